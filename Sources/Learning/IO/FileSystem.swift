// FileSystem: every file system call Learning makes, in one place. Writes are atomic:
// the bytes go to a temporary file in the same folder, which is flushed to disk,
// renamed over the destination, and the folder itself is flushed, so a reader (or a
// process restarted after a crash) sees either the old file or the new one, never a
// mixture, and no temporary file is left behind.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading, listing and atomically writing files.
public enum FileSystem {
    /// The prefix of temporary files made by `writeAtomically`; they start with a dot
    /// so that folder listings that skip hidden files never see them.
    public static let temporaryPrefix = ".starling-tmp-"

    // ----------------------------------------------------------------------------
    // Reading

    /// The whole content of the file at `path`, read with one `read` loop into a single
    /// buffer sized from `fstat`.
    public static func readBytes(_ path: String) throws(FileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .fromErrno("open", path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .fromErrno("fstat", path) }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw FileError(path: path, operation: "read", code: EISDIR)
        }
        let size = Int(info.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        var failure: FileError?
        bytes.withUnsafeMutableBytes { buffer in
            while done < size {
                let n = read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = .fromErrno("read", path)
                    return
                }
                if n == 0 { break }  // the file shrank while we read it
                done += n
            }
        }
        if let failure { throw failure }
        if done < size { bytes.removeLast(size - done) }
        return bytes
    }

    /// The content of the UTF-8 text file at `path`. Invalid UTF-8 sequences become U+FFFD.
    public static func readText(_ path: String) throws(FileError) -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    /// Whether `path` names an existing folder (following symbolic links).
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Whether something exists at `path`.
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// The names of the entries of the folder at `path` (without `.` and `..`), sorted by
    /// their UTF-8 bytes so that every platform lists them in the same order.
    public static func contentsOfDirectory(_ path: String) throws(FileError) -> [String] {
        guard let dir = opendir(path) else { throw .fromErrno("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    // ----------------------------------------------------------------------------
    // Writing

    /// Creates the folder at `path` and any missing parents (mode 0755 before umask).
    /// An existing folder is fine, and so is the empty path, which names the current
    /// folder (the parent, by `parentDirectory(of:)`, of a file named without a folder).
    public static func createDirectory(_ path: String) throws(FileError) {
        if path.isEmpty || isDirectory(path) { return }
        let parent = parentDirectory(of: path)
        if parent != path && !exists(parent) { try createDirectory(parent) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw .fromErrno("mkdir", path) }
        guard isDirectory(path) else { throw FileError(path: path, operation: "mkdir", code: ENOTDIR) }
    }

    /// Replaces the file at `path` with `bytes` atomically: write to a temporary file in
    /// the same folder, `fsync` it, `rename` it over `path`, then `fsync` the folder.
    /// On failure the temporary file is removed and the old file, if any, is untouched.
    /// - Parameter permissions: mode of the new file (before umask), 0644 by default.
    public static func writeAtomically(
        _ bytes: some Collection<UInt8>, to path: String, permissions: mode_t = 0o644
    ) throws(FileError) {
        let folder = parentDirectory(of: path)
        let name = String(path.split(separator: "/", omittingEmptySubsequences: false).last ?? "")
        guard !name.isEmpty else { throw FileError(path: path, operation: "write", code: EISDIR) }
        let temporary = (folder.isEmpty ? "" : folder + "/")
            + "\(temporaryPrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(name)"

        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
        guard fd >= 0 else { throw .fromErrno("open", temporary) }
        var failure: FileError?
        let written = bytes.withContiguousStorageIfAvailable { writeAll(fd, UnsafeRawBufferPointer($0)) }
            ?? Array(bytes).withUnsafeBytes { writeAll(fd, $0) }
        if !written {
            failure = .fromErrno("write", temporary)
        } else if fsync(fd) != 0 {
            failure = .fromErrno("fsync", temporary)
        }
        if close(fd) != 0 && failure == nil { failure = .fromErrno("close", temporary) }
        if failure == nil && rename(temporary, path) != 0 { failure = .fromErrno("rename", path) }
        if let failure {
            unlink(temporary)
            throw failure
        }
        try syncDirectory(folder.isEmpty ? "." : folder)
    }

    /// Removes the file at `path`; a missing file is fine.
    public static func removeFile(_ path: String) throws(FileError) {
        if unlink(path) != 0 && errno != ENOENT { throw .fromErrno("unlink", path) }
    }

    /// Removes the temporary files that `writeAtomically` leaves in `folder` when the
    /// process dies between creating and renaming one. Call it when a process that owns
    /// the folder starts, never while another process may be writing into it.
    /// - Returns: the names removed.
    @discardableResult
    public static func removeTemporaryFiles(in folder: String) throws(FileError) -> [String] {
        let stale = try contentsOfDirectory(folder).filter { $0.hasPrefix(temporaryPrefix) }
        for name in stale { try removeFile(join(folder, name)) }
        return stale
    }

    /// Flushes a folder's entries to disk, so that a rename inside it survives a crash.
    static func syncDirectory(_ path: String) throws(FileError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .fromErrno("open", path) }
        defer { close(fd) }
        // Some file systems refuse fsync on folders; the rename is still done then.
        if fsync(fd) != 0 && errno != EINVAL && errno != EROFS { throw .fromErrno("fsync", path) }
    }

    private static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < buffer.count {
            let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            done += n
        }
        return true
    }

    /// The folder part of `path` (`""` for a bare name, `/` for a file in the root).
    public static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// `folder/name`, without a doubled slash.
    public static func join(_ folder: String, _ name: String) -> String {
        folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }
}
