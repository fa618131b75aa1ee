/// Suggests the closest known name for a misspelt one, the way compilers do.
public enum DidYouMean {
    /// The candidate nearest to `word` by edit distance, if it is near enough to be a likely typo.
    public static func suggestion(for word: String, among candidates: some Sequence<String>) -> String? {
        let candidates = Array(candidates)
        if let synonym = synonyms[word.lowercased()], candidates.contains(synonym) { return synonym }
        let w = Array(word.lowercased().unicodeScalars)
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let c = Array(candidate.lowercased().unicodeScalars)
            let d = distance(w, c)
            let limit = max(1, min(w.count, c.count) / 3 + 1)
            let isPrefix = c.count >= 2 && w.count >= 2 && (c.starts(with: w) || w.starts(with: c))
            guard d <= limit || isPrefix else { continue }
            if d < best?.distance ?? Int.max { best = (candidate, d) }
        }
        return best?.name
    }

    /// Names from other tools that edit distance cannot connect to ours.
    static let synonyms: [String: String] = [
        "lr": "learning_rate", "bs": "batch_size", "wd": "weight_decay", "n_epochs": "epochs",
        "num_epochs": "epochs", "max_epochs": "epochs", "layers": "hidden", "hidden_sizes": "hidden",
        "target": "label", "y": "label", "file": "path", "sep": "delimiter", "ratio": "max_ratio",
    ]

    /// `help:` text for an unknown name, or the list of valid names when none is close.
    public static func help(for word: String, among candidates: [String], listing: Bool = true) -> String? {
        if let s = suggestion(for: word, among: candidates) { return "did you mean '\(s)'?" }
        guard listing, !candidates.isEmpty else { return nil }
        let shown = candidates.prefix(12).map { "'\($0)'" }.joined(separator: ", ")
        return "expected one of \(shown)\(candidates.count > 12 ? ", …" : "")"
    }

    /// Damerau-free Levenshtein distance over Unicode scalars.
    static func distance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
