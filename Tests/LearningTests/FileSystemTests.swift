import Foundation
import Testing

@testable import Learning

@Suite struct FileSystemTests {
    @Test func atomicWriteReplacesTheFileAndLeavesNoTemporaryFile() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.file("state.bin")
        try FileSystem.writeAtomically([1, 2, 3], to: path)
        try FileSystem.writeAtomically(Array(repeating: 7, count: 100_000), to: path)
        #expect(try FileSystem.readBytes(path) == Array(repeating: 7, count: 100_000))
        #expect(try FileSystem.contentsOfDirectory(folder.path) == ["state.bin"])
    }

    @Test func temporaryFilesLeftByACrashCanBeRemoved() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try FileSystem.writeAtomically([1], to: folder.file("kept"))
        let stale = FileSystem.temporaryPrefix + "123-456-kept"
        try Data([2]).write(to: URL(fileURLWithPath: folder.file(stale)))
        #expect(try FileSystem.removeTemporaryFiles(in: folder.path) == [stale])
        #expect(try FileSystem.contentsOfDirectory(folder.path) == ["kept"])
    }

    @Test func atomicWriteSetsTheRequestedPermissions() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.file("secret")
        try FileSystem.writeAtomically([0x41], to: path, permissions: 0o600)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
    }

    @Test func failedAtomicWriteKeepsTheOldFileAndNoTemporaryFile() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.file("target")
        try FileSystem.createDirectory(path)  // renaming a file over a folder fails
        #expect(throws: FileError.self) { try FileSystem.writeAtomically([1], to: path) }
        #expect(try FileSystem.contentsOfDirectory(folder.path) == ["target"])
        #expect(FileSystem.isDirectory(path))
    }

    @Test func writingIntoAMissingFolderFailsWithItsPath() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let error = #expect(throws: FileError.self) { try FileSystem.writeAtomically([1], to: folder.file("no/such/file")) }
        #expect(error?.operation == "open")
        #expect(error?.code == ENOENT)
    }

    @Test func readingAMissingFileNamesIt() {
        let error = #expect(throws: FileError.self) { try FileSystem.readBytes("/nonexistent/starling/file") }
        #expect(error?.description.contains("/nonexistent/starling/file") == true)
        #expect(error?.code == ENOENT)
    }

    @Test func createDirectoryMakesParentsAndAcceptsExistingFolders() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let nested = folder.file("a/b/c")
        try FileSystem.createDirectory(nested)
        try FileSystem.createDirectory(nested)
        #expect(FileSystem.isDirectory(nested))
    }

    @Test func theFolderOfAFileNamedWithoutOneIsTheCurrentFolder() throws {
        // `starling data synth --topology t.toml` run beside t.toml makes the folder of
        // "a.txt": the empty path, which must not fail as mkdir("") does.
        #expect(FileSystem.parentDirectory(of: "a.txt") == "")
        try FileSystem.createDirectory(FileSystem.parentDirectory(of: "a.txt"))
        // A folder that cannot be made still fails: one beneath a file.
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try FileSystem.writeAtomically([1], to: folder.file("file"))
        let error = #expect(throws: FileError.self) { try FileSystem.createDirectory(folder.file("file/sub")) }
        #expect(error?.operation == "mkdir")
        #expect(error?.code == ENOTDIR)
    }

    @Test func listingIsSortedByBytes() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        for name in ["b.txt", "a.txt", "B.txt", "é.txt", "10.txt", "2.txt"] {
            try FileSystem.writeAtomically([], to: folder.file(name))
        }
        #expect(try FileSystem.contentsOfDirectory(folder.path) == ["10.txt", "2.txt", "B.txt", "a.txt", "b.txt", "é.txt"])
    }
}
