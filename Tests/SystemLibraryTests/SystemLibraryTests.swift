import CGit2
import COpenBLAS
import CYAML
import Testing

/// The Debian libraries that scripts/setup installs link through their shims and work.
@Suite struct SystemLibraries {
    @Test func libgit2InitialisesAndReportsItsVersion() {
        #expect(git_libgit2_init() >= 1)
        defer { git_libgit2_shutdown() }
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        git_libgit2_version(&major, &minor, &patch)
        #expect(major >= 1)
    }

    @Test func openBLASMultipliesMatrices() {
        // [1 2; 3 4] x [5 6; 7 8] = [19 22; 43 50]
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2)
        #expect(c == [19, 22, 43, 50])
    }

    @Test func libyamlReportsItsVersion() {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        yaml_get_version(&major, &minor, &patch)
        #expect(major == 0 && minor >= 2)
    }
}
