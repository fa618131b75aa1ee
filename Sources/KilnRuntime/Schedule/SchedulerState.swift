/// The scheduler as a pure state machine: which nodes may start, and what a finished node means for
/// the rest. No threads, no clocks, no I/O; the driver (`Runner`) feeds it events. Tested on its own.
///
/// Rules:
/// - a node is ready when every input is done or cached;
/// - at most `jobs` nodes run at once; a node also takes `cost` compute slots of `slots` (a training
///   on several threads takes them all, so trainings never share the compute threads);
/// - nodes in one `serial` group start in graph order, each after the previous has ended (register
///   nodes of one model: version numbers follow the graph, not the finishing order);
/// - a failed node skips everything downstream of it; without `keepGoing`, nothing new starts after
///   the first failure;
/// - `cancel()` starts nothing more; running nodes end as the driver reports them.
public struct SchedulerState: Sendable {
    public enum Status: Sendable, Equatable {
        case pending, running, done, cached, failed
        /// Not run because an upstream node failed (its id).
        case skipped(String)
        /// Not run because the run stopped (a failure without --keep-going, or Ctrl-C).
        case notRun

        public var isTerminal: Bool { self != .pending && self != .running }
    }

    public struct Node: Sendable {
        public var id: String
        public var inputs: [String]
        public var cost: Int
        public var serial: String?

        public init(id: String, inputs: [String], cost: Int = 0, serial: String? = nil) {
            self.id = id
            self.inputs = inputs
            self.cost = cost
            self.serial = serial
        }
    }

    public let nodes: [Node]
    public let jobs: Int
    public let slots: Int
    public let keepGoing: Bool
    public private(set) var status: [Status]
    private let index: [String: Int]
    private var dependents: [[Int]]
    /// Unfinished inputs per node.
    private var waiting: [Int]
    private var running = 0
    private var slotsInUse = 0
    /// Ready nodes by rank (kept sorted: a run of 17,000 nodes must not sort it at every start).
    private var ready: [Int] = []
    /// The order ready nodes start in: depth first (a node's consumers soon after it), so that what one
    /// dataset's nodes hold in memory (its decoded table) is used by its training and let go before the
    /// next datasets pile up. Among independent nodes, graph order.
    private var rank: [Int] = []
    /// Per serial group, its members in graph order, and how many of them have ended.
    private var serialMembers: [String: [Int]] = [:]
    private var stopping = false

    /// `nodes` in topological order; `cached` are done before the run starts.
    public init(nodes: [Node], cached: Set<String>, jobs: Int, slots: Int, keepGoing: Bool) {
        self.nodes = nodes
        self.jobs = max(1, jobs)
        self.slots = max(1, slots)
        self.keepGoing = keepGoing
        var index: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { index[n.id] = i }
        self.index = index
        status = nodes.map { cached.contains($0.id) ? .cached : .pending }
        dependents = Array(repeating: [], count: nodes.count)
        waiting = Array(repeating: 0, count: nodes.count)
        for (i, n) in nodes.enumerated() {
            for input in n.inputs {
                guard let j = index[input] else { continue }  // outside the selection: not waited for
                dependents[j].append(i)
                if status[j] != .cached { waiting[i] += 1 }
            }
        }
        rank = Self.depthFirstRanks(dependents: dependents, inputs: nodes.map { $0.inputs.compactMap { index[$0] } })
        for i in nodes.indices where status[i] == .pending && waiting[i] == 0 { ready.append(i) }
        ready.sort { rank[$0] < rank[$1] }
        for (i, n) in nodes.enumerated() { if let group = n.serial { serialMembers[group, default: []].append(i) } }
    }

    public func status(of id: String) -> Status? { index[id].map { status[$0] } }

    public var isFinished: Bool { running == 0 && (stopping || ready.isEmpty) }

    /// Nodes to start now, marked running.
    public mutating func start() -> [String] {
        guard !stopping else { return [] }
        var started: [String] = []
        var i = 0
        while i < ready.count && running < jobs {
            let n = ready[i]
            let cost = min(nodes[n].cost, slots)
            if slotsInUse + cost > slots || !serialTurn(n) {
                i += 1
                continue
            }
            ready.remove(at: i)
            status[n] = .running
            running += 1
            slotsInUse += cost
            started.append(nodes[n].id)
        }
        return started
    }

    /// Whether every earlier node of `n`'s serial group has ended.
    private func serialTurn(_ n: Int) -> Bool {
        guard let group = nodes[n].serial, let members = serialMembers[group] else { return true }
        for earlier in members {
            if earlier >= n { break }
            if !status[earlier].isTerminal { return false }
        }
        return true
    }

    /// Inserts into `ready`, keeping rank order.
    private mutating func insertReady(_ n: Int) {
        var low = 0, high = ready.count
        while low < high {
            let mid = (low + high) / 2
            if rank[ready[mid]] < rank[n] { low = mid + 1 } else { high = mid }
        }
        ready.insert(n, at: low)
    }

    /// A topological order that goes deep first: after a node, the consumers it made ready, before the
    /// next independent node (Kahn's algorithm with a stack; roots in graph order).
    static func depthFirstRanks(dependents: [[Int]], inputs: [[Int]]) -> [Int] {
        var left = inputs.map(\.count)
        var rank = Array(repeating: 0, count: inputs.count)
        var stack = inputs.indices.filter { left[$0] == 0 }.reversed() as [Int]
        var next = 0
        while let n = stack.popLast() {
            rank[n] = next
            next += 1
            for d in dependents[n].reversed() {
                left[d] -= 1
                if left[d] == 0 { stack.append(d) }
            }
        }
        // A cycle (the compiler refuses them): whatever is left, after, in graph order.
        for i in rank.indices where left[i] > 0 {
            rank[i] = next
            next += 1
        }
        return rank
    }

    /// How a running node ended.
    public enum Outcome: Sendable, Equatable {
        case succeeded, failed
        /// It stopped because the run was cancelled: not a failure, and nothing downstream is skipped for it.
        case cancelled
    }

    /// What the driver does after a node ends.
    public enum Action: Sendable, Equatable {
        /// Record `node` as skipped: `cause` (upstream) failed.
        case skip(node: String, cause: String)
        /// Nothing new starts: the run is stopping (a failure without keepGoing, or a cancel).
        case stopping
        /// Nothing runs and nothing more will start: the run is over.
        case finished
    }

    /// A running node ended; the actions follow from it (skips in graph order).
    @discardableResult
    public mutating func finish(_ id: String, _ outcome: Outcome) -> [Action] {
        guard let n = index[id], status[n] == .running else { return [] }
        running -= 1
        slotsInUse -= min(nodes[n].cost, slots)
        var actions: [Action] = []
        switch outcome {
        case .succeeded:
            status[n] = .done
            for d in dependents[n] {
                waiting[d] -= 1
                if waiting[d] == 0 && status[d] == .pending { insertReady(d) }
            }
        case .failed:
            status[n] = .failed
            actions += skipDownstream(of: n, because: id).map { .skip(node: nodes[$0].id, cause: id) }
            if !keepGoing { stop() }
        case .cancelled:
            status[n] = .notRun
            stop()
        }
        if stopping {
            actions.append(.stopping)
            if running == 0 { markNotRun() }
        }
        if isFinished { actions.append(.finished) }
        return actions
    }

    /// A running node ended (`succeeded` or failed).
    @discardableResult
    public mutating func finish(_ id: String, succeeded: Bool) -> [Action] {
        finish(id, succeeded ? .succeeded : .failed)
    }

    /// Starts nothing more (Ctrl-C); nodes still pending end as not run once the running ones end.
    public mutating func cancel() {
        stop()
        if running == 0 { markNotRun() }
    }

    private mutating func stop() { stopping = true }

    private mutating func markNotRun() {
        ready.removeAll()
        for i in status.indices where status[i] == .pending { status[i] = .notRun }
    }

    /// Marks everything pending downstream of `n` skipped; returns those nodes in graph order.
    private mutating func skipDownstream(of n: Int, because id: String) -> [Int] {
        var stack = dependents[n]
        var skipped: [Int] = []
        while let d = stack.popLast() {
            guard status[d] == .pending else { continue }
            status[d] = .skipped(id)
            skipped.append(d)
            stack.append(contentsOf: dependents[d])
        }
        let set = Set(skipped)
        ready.removeAll { set.contains($0) }
        return skipped.sorted()
    }
}
