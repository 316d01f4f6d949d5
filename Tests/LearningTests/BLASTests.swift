import Testing

@testable import Learning

@Suite struct BLASTests {
    @Test func threadCountCanBeSet() {
        let before = BLAS.threads
        BLAS.setThreads(1)
        #expect(BLAS.threads == 1)
        BLAS.setThreads(before)
    }
}
