/// Exit codes, in one place: decided from diagnostic counts, never from a global flag.
public enum ExitStatus: Int32, Error {
    /// The work succeeded (warnings allowed).
    case success = 0
    /// The work failed: an invalid spec, a failed node, a failed gate, a failed verification.
    case failure = 1
    /// The command line was wrong.
    case usage = 2
}
