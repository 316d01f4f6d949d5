// BLASKernel: which OpenBLAS kernel runs, and choosing it from the CPU's features when
// the library did not recognise the processor.
//
// Debian's OpenBLAS is built with DYNAMIC_ARCH: at load time it matches the processor's
// family and model against the ones it knows and picks a kernel set (its "core"). A
// processor newer than the library falls back to `Prescott` (SSE3), five times slower
// than the AVX-512 kernels the same processor could run. The library reads
// `OPENBLAS_CORETYPE` only at load time, before `main`, so the fix is to set it and
// exec the binary again; the command line does that as its very first step. A kernel
// the environment names is never overridden: whoever set it knows better (or is
// measuring on purpose).

import COpenBLAS

/// The x86 feature bits that decide which OpenBLAS kernel can run on a processor.
/// Every AVX flag here already includes the operating system's consent (XCR0): a
/// processor with AVX-512 under a kernel that does not save its registers has none.
public struct CPUFeatures: Sendable, Equatable {
    public enum Vendor: Sendable, Equatable { case intel, amd, other }

    public var vendor: Vendor = .other
    public var ssse3 = false
    public var sse42 = false
    public var avx = false
    public var avx2 = false
    public var fma = false
    /// AVX-512 Foundation, DQ, CD, BW and VL together: the set OpenBLAS's SkylakeX kernels use.
    public var avx512 = false
    /// AVX-512 BF16 (Cooper Lake, Sapphire Rapids and later, AMD Zen 4 and later).
    public var avx512BF16 = false

    public init(
        vendor: Vendor = .other, ssse3: Bool = false, sse42: Bool = false, avx: Bool = false, avx2: Bool = false,
        fma: Bool = false, avx512: Bool = false, avx512BF16: Bool = false
    ) {
        self.vendor = vendor
        self.ssse3 = ssse3
        self.sse42 = sse42
        self.avx = avx
        self.avx2 = avx2
        self.fma = fma
        self.avx512 = avx512
        self.avx512BF16 = avx512BF16
    }

    /// The features of the processor this process runs on (`cpuid`, `xgetbv`), or nil
    /// on a processor that is not x86, where the library's own choice stands.
    public static var current: CPUFeatures? {
        var r: [UInt32] = [0, 0, 0, 0]
        guard starling_cpuid(0, 0, &r) == 1 else { return nil }
        let maxLeaf = r[0]
        // The vendor string is ebx, edx, ecx: "GenuineIntel", "AuthenticAMD".
        var features = CPUFeatures()
        switch (r[1], r[3], r[2]) {
        case (0x756e_6547, 0x4965_6e69, 0x6c65_746e): features.vendor = .intel
        case (0x6874_7541, 0x6974_6e65, 0x444d_4163): features.vendor = .amd
        default: features.vendor = .other
        }
        guard maxLeaf >= 1, starling_cpuid(1, 0, &r) == 1 else { return features }
        let ecx1 = r[2]
        features.ssse3 = ecx1 & (1 << 9) != 0
        features.sse42 = ecx1 & (1 << 20) != 0
        let osxsave = ecx1 & (1 << 27) != 0
        let xcr0 = osxsave ? starling_xgetbv0() : 0
        let osSavesYMM = xcr0 & 0x6 == 0x6  // SSE and AVX state
        let osSavesZMM = xcr0 & 0xE6 == 0xE6  // plus opmask and both halves of the ZMM file
        features.avx = osSavesYMM && ecx1 & (1 << 28) != 0
        features.fma = features.avx && ecx1 & (1 << 12) != 0
        guard maxLeaf >= 7, starling_cpuid(7, 0, &r) == 1 else { return features }
        let ebx7 = r[1], subleaves7 = r[0]
        features.avx2 = features.avx && ebx7 & (1 << 5) != 0
        let avx512Bits: UInt32 = (1 << 16) | (1 << 17) | (1 << 28) | (1 << 30) | (1 << 31)  // F, DQ, CD, BW, VL
        features.avx512 = osSavesZMM && ebx7 & avx512Bits == avx512Bits
        if features.avx512, subleaves7 >= 1, starling_cpuid(7, 1, &r) == 1 {
            features.avx512BF16 = r[0] & (1 << 5) != 0
        }
        return features
    }
}

/// The OpenBLAS kernel (its "core type") of this process, and the choice of one from
/// the CPU's features.
public enum BLASKernel {
    /// The environment variable OpenBLAS reads at load time to force its kernel.
    public static let environmentVariable = "OPENBLAS_CORETYPE"
    /// Set beside `OPENBLAS_CORETYPE` when this program chose it, so the exec'd process
    /// (and every child it starts) knows the choice was made and never execs again.
    public static let chosenMarker = "STARLING_OPENBLAS_CORETYPE_CHOSEN"

    /// The x86_64 core types of OpenBLAS 0.3.21 (Debian 12) by the instruction sets
    /// their kernels use, weakest first. A name absent here is one we do not rank.
    static let ranks: [String: Int] = [
        "prescott": 0, "atom": 0, "banias": 0, "athlon": 0, "opteron": 0, "opteron_sse3": 0, "nano": 0,
        "core2": 1, "penryn": 1, "dunnington": 1, "bobcat": 1,
        "nehalem": 2, "barcelona": 2,
        "sandybridge": 3, "bulldozer": 3, "piledriver": 3, "steamroller": 3,
        "haswell": 4, "zen": 4, "excavator": 4,
        "skylakex": 5,
        "cooperlake": 6,
    ]

    /// The rank of a core type name (case-insensitive), or nil for a name not ranked.
    static func rank(_ core: String) -> Int? { ranks[core.lowercased()] }

    /// The best OpenBLAS 0.3.21 core type for a processor with these features: the
    /// kernels that use the widest instructions it has. AMD processors with AVX2 but no
    /// AVX-512 get `Zen` (Haswell's kernels with AMD's cache blocking).
    public static func bestCore(for f: CPUFeatures) -> String {
        if f.avx512 { return f.avx512BF16 ? "Cooperlake" : "SkylakeX" }
        if f.avx2 && f.fma { return f.vendor == .amd ? "Zen" : "Haswell" }
        if f.avx { return "Sandybridge" }
        if f.sse42 { return "Nehalem" }
        if f.ssse3 { return "Core2" }
        return "Prescott"
    }

    /// The core type to set before running again, or nil to keep the running one.
    /// Nil when the environment names a kernel (never overridden), when this program
    /// already chose once (the marker: no exec loops), when the features are unknown
    /// (not x86), when the running core is not one we rank, and when it is already as
    /// good as the best one for these features.
    public static func coreToChoose(features: CPUFeatures?, runningCore: String, environment: [String: String]) -> String? {
        guard environment[environmentVariable] == nil, environment[chosenMarker] == nil else { return nil }
        guard let features, let running = rank(runningCore) else { return nil }
        let best = bestCore(for: features)
        guard let bestRank = rank(best), bestRank > running else { return nil }
        return best
    }

    /// The core type OpenBLAS runs in this process (`openblas_get_corename`), e.g. `Haswell`.
    public static var runningCore: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's build description (`openblas_get_config`), e.g.
    /// `OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64`.
    public static var libraryConfig: String { String(cString: openblas_get_config()) }

    /// Where the running kernel came from.
    public enum Source: String, Sendable {
        /// The library matched the processor itself.
        case library = "the library's own choice"
        /// The environment named it in `OPENBLAS_CORETYPE`.
        case environment = "set by OPENBLAS_CORETYPE"
        /// This program chose it from the CPU's features and ran itself again.
        case cpuFeatures = "chosen from CPU features"
    }

    /// Where the running kernel came from, read from the environment.
    public static func source(environment: [String: String]) -> Source {
        guard let named = environment[environmentVariable] else { return .library }
        return environment[chosenMarker] == named ? .cpuFeatures : .environment
    }

    /// One line for `--version` and logs: `OpenBLAS 0.3.21, kernel Cooperlake (the library's own choice)`.
    public static func summary(environment: [String: String]) -> String {
        let version = libraryConfig.split(separator: " ").prefix(2).joined(separator: " ")
        return "\(version), kernel \(runningCore) (\(source(environment: environment).rawValue))"
    }
}
