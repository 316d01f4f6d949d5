import Testing

@testable import Learning

/// The OpenBLAS kernel chosen from CPU features: the best core type for hand-written
/// processors, and when a running process must run again under it.
@Suite struct BLASKernelTests {
    // Feature sets of real processors, as cpuid reports them with an OS that saves every register file.
    static let core2 = CPUFeatures(vendor: .intel, ssse3: true)
    static let nehalem = CPUFeatures(vendor: .intel, ssse3: true, sse42: true)
    static let sandyBridge = CPUFeatures(vendor: .intel, ssse3: true, sse42: true, avx: true)
    static let haswell = CPUFeatures(vendor: .intel, ssse3: true, sse42: true, avx: true, avx2: true, fma: true)
    static let zen3 = CPUFeatures(vendor: .amd, ssse3: true, sse42: true, avx: true, avx2: true, fma: true)
    static let skylakeSP = CPUFeatures(vendor: .intel, ssse3: true, sse42: true, avx: true, avx2: true, fma: true, avx512: true)
    static let sapphireRapids = CPUFeatures(
        vendor: .intel, ssse3: true, sse42: true, avx: true, avx2: true, fma: true, avx512: true, avx512BF16: true)
    static let zen4 = CPUFeatures(
        vendor: .amd, ssse3: true, sse42: true, avx: true, avx2: true, fma: true, avx512: true, avx512BF16: true)

    @Test func theWidestInstructionsPickTheCoreType() {
        #expect(BLASKernel.bestCore(for: CPUFeatures()) == "Prescott")
        #expect(BLASKernel.bestCore(for: Self.core2) == "Core2")
        #expect(BLASKernel.bestCore(for: Self.nehalem) == "Nehalem")
        #expect(BLASKernel.bestCore(for: Self.sandyBridge) == "Sandybridge")
        #expect(BLASKernel.bestCore(for: Self.haswell) == "Haswell")
        #expect(BLASKernel.bestCore(for: Self.zen3) == "Zen")
        #expect(BLASKernel.bestCore(for: Self.skylakeSP) == "SkylakeX")
        #expect(BLASKernel.bestCore(for: Self.sapphireRapids) == "Cooperlake")
        #expect(BLASKernel.bestCore(for: Self.zen4) == "Cooperlake")
    }

    @Test func avx2WithoutFMAStaysOnTheAVXKernels() {
        var features = Self.haswell
        features.fma = false
        #expect(BLASKernel.bestCore(for: features) == "Sandybridge")
    }

    @Test func aLibraryFallbackIsReplacedByTheBestCore() {
        #expect(BLASKernel.coreToChoose(features: Self.sapphireRapids, runningCore: "Prescott", environment: [:]) == "Cooperlake")
        #expect(BLASKernel.coreToChoose(features: Self.skylakeSP, runningCore: "Haswell", environment: [:]) == "SkylakeX")
        #expect(BLASKernel.coreToChoose(features: Self.zen3, runningCore: "Sandybridge", environment: [:]) == "Zen")
        #expect(BLASKernel.coreToChoose(features: Self.sapphireRapids, runningCore: "PRESCOTT", environment: [:]) == "Cooperlake")
    }

    @Test func aKernelTheEnvironmentNamesIsNeverOverridden() {
        let environment = ["OPENBLAS_CORETYPE": "Prescott"]
        #expect(BLASKernel.coreToChoose(features: Self.sapphireRapids, runningCore: "Prescott", environment: environment) == nil)
        #expect(BLASKernel.coreToChoose(features: Self.sapphireRapids, runningCore: "Prescott", environment: ["OPENBLAS_CORETYPE": ""]) == nil)
    }

    @Test func aChoiceAlreadyMadeIsNotMadeAgain() {
        // After the exec the library may still report its fallback (a core type it
        // cannot load); the marker stops a second exec.
        let environment = ["STARLING_OPENBLAS_CORETYPE_CHOSEN": "Cooperlake"]
        #expect(BLASKernel.coreToChoose(features: Self.sapphireRapids, runningCore: "Prescott", environment: environment) == nil)
    }

    @Test func aCoreAsGoodAsTheBestIsKept() {
        #expect(BLASKernel.coreToChoose(features: Self.zen4, runningCore: "Cooperlake", environment: [:]) == nil)
        #expect(BLASKernel.coreToChoose(features: Self.zen3, runningCore: "Haswell", environment: [:]) == nil)
        #expect(BLASKernel.coreToChoose(features: Self.haswell, runningCore: "Zen", environment: [:]) == nil)
        // A better core than the features call for (the library knows more than this table).
        #expect(BLASKernel.coreToChoose(features: Self.haswell, runningCore: "SkylakeX", environment: [:]) == nil)
    }

    @Test func unknownProcessorsAndCoreNamesAreLeftToTheLibrary() {
        #expect(BLASKernel.coreToChoose(features: nil, runningCore: "ARMV8", environment: [:]) == nil)
        #expect(BLASKernel.coreToChoose(features: Self.sapphireRapids, runningCore: "NeoverseN1", environment: [:]) == nil)
    }

    @Test func theSourceOfTheKernelIsReadFromTheEnvironment() {
        #expect(BLASKernel.source(environment: [:]) == .library)
        #expect(BLASKernel.source(environment: ["OPENBLAS_CORETYPE": "Haswell"]) == .environment)
        #expect(BLASKernel.source(environment: ["OPENBLAS_CORETYPE": "Cooperlake", "STARLING_OPENBLAS_CORETYPE_CHOSEN": "Cooperlake"]) == .cpuFeatures)
        // Someone changed the variable after the choice: theirs.
        #expect(BLASKernel.source(environment: ["OPENBLAS_CORETYPE": "Haswell", "STARLING_OPENBLAS_CORETYPE_CHOSEN": "Cooperlake"]) == .environment)
    }

    #if arch(x86_64)
    @Test func thisProcessorsFeaturesImplyTheirPredecessors() throws {
        let features = try #require(CPUFeatures.current)
        if features.avx512 { #expect(features.avx2 && features.fma) }
        if features.avx512BF16 { #expect(features.avx512) }
        if features.avx2 { #expect(features.avx) }
        if features.avx { #expect(features.sse42 && features.ssse3) }
        #expect(BLASKernel.rank(BLASKernel.bestCore(for: features)) != nil)
    }
    #endif
}
