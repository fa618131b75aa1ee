import CGit2
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

    @Test func libyamlReportsItsVersion() {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        yaml_get_version(&major, &minor, &patch)
        #expect(major == 0 && minor >= 2)
    }
}
