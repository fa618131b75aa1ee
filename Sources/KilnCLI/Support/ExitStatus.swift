/// Exit codes, in one place: decided from diagnostic counts, never from a global flag.
public enum ExitStatus: Int32, Error {
    /// The work succeeded (warnings allowed).
    case success = 0
    /// The work failed: an invalid spec, a failed node, a failed gate, a failed verification.
    case failure = 1
    /// The command line was wrong.
    case usage = 2
}

/// Prints `kiln: error: MESSAGE` (and `  help: HELP`) on standard error and gives the status to throw:
/// `throw fail("no model '\(name)'")`. Every command's errors look the same this way.
func fail(_ message: String, help: String? = nil, _ status: ExitStatus = .failure) -> ExitStatus {
    Terminal.standardError("kiln: error: \(message)\n" + (help.map { "  help: \($0)\n" } ?? ""))
    return status
}
