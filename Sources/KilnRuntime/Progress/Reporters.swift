import Foundation
import Synchronization

/// Receives a run's events, from any thread.
public protocol RunReporter: Sendable {
    func report(_ event: RunEvent)
    /// Called once after the last event: a live view clears itself.
    func close()
    /// Whether cached nodes are shown with their summaries (read from each cache entry).
    var showsCached: Bool { get }
}

extension RunReporter {
    public func close() {}
    public var showsCached: Bool { true }
}

/// Writes to a file descriptor, one whole write per call (lines from two threads never interleave).
public struct OutputSink: Sendable {
    public let fd: Int32
    public init(fd: Int32) { self.fd = fd }

    public func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Foundation.write(fd, base + offset, raw.count - offset)
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}

/// `--json`: one JSON object per line.
public final class JSONLinesReporter: RunReporter {
    let sink: OutputSink
    public init(sink: OutputSink) { self.sink = sink }
    public func report(_ event: RunEvent) { sink.write(EventRecord(event, time: Date()).json + "\n") }
}

/// Without a TTY, or with `CI=true`: plain timestamped lines; a training reports about ten epochs.
public final class PlainReporter: RunReporter {
    let sink: OutputSink
    let quiet: Bool
    public var showsCached: Bool { !quiet }

    public init(sink: OutputSink, quiet: Bool = false) {
        self.sink = sink
        self.quiet = quiet
    }

    public func report(_ event: RunEvent) {
        guard let line = Self.line(event, quiet: quiet) else { return }
        sink.write("\(Self.clock()) \(line)\n")
    }

    /// Local time as HH:MM:SS (a DateFormatter per line costs more than the rest of a cached node).
    static func clock() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }

    static func line(_ event: RunEvent, quiet: Bool) -> String? {
        switch event {
        case .runStarted(let run, let nodes, let toRun, let cached, let jobs):
            return quiet ? nil : "run \(run): \(nodes) nodes, \(toRun) to run, \(cached) cached, \(jobs) jobs"
        case .nodeCached(let node, _, let summary):
            return quiet ? nil : "cached   \(node)\(summary.isEmpty ? "" : "  \(summary)")"
        case .nodeStarted(let node, let attempt):
            return quiet ? nil : "start    \(node)\(attempt > 1 ? " (attempt \(attempt))" : "")"
        case .epoch(let node, let p):
            if let step = p.step, let steps = p.steps {
                // Inside an epoch: a line at each quarter.
                guard !quiet, step % max(1, steps / 4) == 0, step < steps else { return nil }
                return "epoch    \(node)  \(Format.epoch(p))"
            }
            let every = max(1, p.epochs / 10)
            guard !quiet, p.epoch % every == 0 || p.epoch == p.epochs || p.epoch == (p.resumedFrom ?? -1) + 1 else {
                return nil
            }
            return "epoch    \(node)  \(Format.epoch(p))"
        case .nodeFinished(let node, let seconds, let summary, _):
            return quiet ? nil : "done     \(node)  \(Format.seconds(seconds))\(summary.isEmpty ? "" : "  \(summary)")"
        case .nodeFailed(let node, let seconds, let error, let attempt, let willRetry):
            let first = error.split(separator: "\n").first.map(String.init) ?? error
            return "FAILED   \(node)  \(Format.seconds(seconds))  \(first)"
                + (willRetry ? "  (attempt \(attempt); retrying)" : "")
        case .nodeSkipped(let node, let reason):
            return quiet ? nil : "skipped  \(node)  \(reason)"
        case .runFinished(let run, let outcome, let seconds, let counts):
            return "run \(run) \(outcome.rawValue) in \(Format.seconds(seconds)): \(Format.counts(counts))"
        }
    }
}

/// On a TTY: finished nodes scroll by as lines; below them, a live area redrawn in place with each
/// running node (a bar for trainings: epoch, loss, a metric, samples/s, ETA) and the counts.
public final class LiveReporter: RunReporter {
    struct State {
        var running: [String: (start: Date, progress: EpochProgress?)] = [:]
        var order: [String] = []
        var counts: [String: Int] = [:]
        var total = 0
        var drawnLines = 0
        var lastDraw = Date.distantPast
    }

    let sink: OutputSink
    let colour: Bool
    let width: Int
    private let state = Mutex(State())
    public var showsCached: Bool { false }

    public init(sink: OutputSink, colour: Bool, width: Int = 100) {
        self.sink = sink
        self.colour = colour
        self.width = max(40, width)
    }

    public func report(_ event: RunEvent) {
        state.withLock { s in
            var permanent: [String] = []
            var force = true
            switch event {
            case .runStarted(_, let nodes, _, _, _):
                s.total = nodes
                permanent.append(PlainReporter.line(event, quiet: false) ?? "")
            case .nodeCached:
                s.counts["cached", default: 0] += 1
                force = false
            case .nodeStarted(let node, _):
                if s.running[node] == nil { s.order.append(node) }
                s.running[node] = (Date(), nil)
            case .epoch(let node, let p):
                s.running[node]?.progress = p
                force = false
            case .nodeFinished(let node, let seconds, let summary, _):
                s.running[node] = nil
                s.order.removeAll { $0 == node }
                s.counts["done", default: 0] += 1
                permanent.append(
                    paint("✓", 32) + " \(node)  " + paint(Format.seconds(seconds), 2)
                        + (summary.isEmpty ? "" : "  \(summary)"))
            case .nodeFailed(let node, _, let error, let attempt, let willRetry):
                if !willRetry {
                    s.running[node] = nil
                    s.order.removeAll { $0 == node }
                    s.counts["failed", default: 0] += 1
                }
                let first = error.split(separator: "\n").first.map(String.init) ?? error
                permanent.append(
                    paint("✗", 31) + " \(node)  \(first)"
                        + (willRetry ? paint("  (attempt \(attempt); retrying)", 33) : ""))
            case .nodeSkipped(let node, let reason):
                s.counts["skipped", default: 0] += 1
                permanent.append(paint("-", 33) + " \(node)  " + paint(reason, 2))
            case .runFinished:
                permanent.append(PlainReporter.line(event, quiet: false) ?? "")
            }
            let now = Date()
            guard force || !permanent.isEmpty || now.timeIntervalSince(s.lastDraw) > 0.1 else { return }
            s.lastDraw = now
            var out = clear(s.drawnLines)
            for line in permanent { out += line + "\n" }
            if case .runFinished = event {
                s.drawnLines = 0
            } else {
                let live = liveArea(s)
                out += live.joined(separator: "\n") + "\n"
                s.drawnLines = live.count
            }
            sink.write(out)
        }
    }

    public func close() {
        state.withLock { s in
            sink.write(clear(s.drawnLines))
            s.drawnLines = 0
        }
    }

    private func clear(_ lines: Int) -> String {
        lines == 0 ? "" : String(repeating: "\u{1B}[1A\u{1B}[2K", count: lines) + "\r"
    }

    private func liveArea(_ s: State) -> [String] {
        var lines: [String] = []
        for node in s.order.prefix(8) {
            guard let r = s.running[node] else { continue }
            if let p = r.progress {
                let fraction = p.fraction
                let barWidth = 20
                let filled = Int(fraction * Double(barWidth))
                let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: barWidth - filled)
                lines.append(truncate(paint("●", 36) + " \(node) \(bar) \(Format.epoch(p))"))
            } else {
                lines.append(
                    truncate(
                        paint("●", 36) + " \(node)  " + paint(Format.seconds(Date().timeIntervalSince(r.start)), 2)))
            }
        }
        if s.order.count > 8 { lines.append("  … and \(s.order.count - 8) more running") }
        var counts = s.counts
        counts["running"] = s.running.count
        let finished = counts.filter { $0.key != "running" }.values.reduce(0, +)
        counts["pending"] = max(0, s.total - finished - s.running.count)
        lines.append(paint(Format.counts(counts), 2))
        return lines
    }

    private func truncate(_ line: String) -> String {
        // Colour codes do not take columns; cut the visible text only when clearly too long.
        line.count > width + 20 ? String(line.prefix(width + 19)) + "…" : line
    }

    private func paint(_ text: String, _ code: Int) -> String {
        colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }
}

/// Collects events for run records and tests.
public final class RecordingReporter: RunReporter {
    private let events = Mutex<[RunEvent]>([])
    public init() {}
    public func report(_ event: RunEvent) { events.withLock { $0.append(event) } }
    public var all: [RunEvent] { events.withLock { $0 } }
}

enum Format {
    static func seconds(_ s: Double) -> String {
        if s < 1 { return String(format: "%.0f ms", s * 1000) }
        if s < 60 { return String(format: "%.1f s", s) }
        return String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60)
    }

    static func epoch(_ p: EpochProgress) -> String {
        var out = "\(p.unit ?? "epoch") \(p.epoch)/\(p.epochs)"
        if let step = p.step, let steps = p.steps { out += " step \(step)/\(steps)" }
        out += "  loss \(String(format: "%.4f", p.trainLoss))"
        if let loss = p.validation["loss"] { out += "  val_loss \(String(format: "%.4f", loss))" }
        if let (name, value) = p.validation.filter({ $0.key != "loss" }).min(by: { $0.key < $1.key }) {
            out += "  val_\(name) \(String(format: "%.4f", value))"
        }
        out += "  \(Int(p.samplesPerSecond.rounded())) samples/s"
        if p.epoch < p.epochs || p.step != nil { out += "  ETA \(seconds(p.eta))" }
        return out
    }

    static func counts(_ counts: [String: Int]) -> String {
        let order = ["done", "cached", "failed", "skipped", "not run", "running", "pending"]
        return order.compactMap { key in counts[key].flatMap { $0 > 0 ? "\($0) \(key)" : nil } }
            .joined(separator: " · ")
    }
}
