import KilnRuntime
import Testing

@Suite struct SchedulerStateTests {
    /// a → b → d, a → c → d, e alone.
    func diamond(jobs: Int = 4, cached: Set<String> = [], keepGoing: Bool = false) -> SchedulerState {
        SchedulerState(
            nodes: [
                .init(id: "a", inputs: []), .init(id: "b", inputs: ["a"]), .init(id: "c", inputs: ["a"]),
                .init(id: "d", inputs: ["b", "c"]), .init(id: "e", inputs: []),
            ], cached: cached, jobs: jobs, slots: 2, keepGoing: keepGoing)
    }

    @Test func runsInDependencyOrderWithBoundedParallelism() {
        var s = diamond(jobs: 2)
        #expect(s.start() == ["a", "e"])
        #expect(s.start().isEmpty)  // two running, jobs 2
        s.finish("a", succeeded: true)
        #expect(s.start() == ["b"])  // e still running: one slot free
        s.finish("e", succeeded: true)
        #expect(s.start() == ["c"])
        s.finish("b", succeeded: true)
        #expect(s.start().isEmpty)  // d waits for c
        s.finish("c", succeeded: true)
        #expect(s.start() == ["d"])
        s.finish("d", succeeded: true)
        #expect(s.isFinished)
        #expect(s.status.allSatisfy { $0 == .done })
    }

    /// Two datasets' chains, listed as the graph lists them (every ingest, then every fit): a chain's next
    /// node starts before the other chain's first, so one dataset's table is used and let go before the
    /// next is read.
    @Test func readyNodesGoDepthFirst() {
        var s = SchedulerState(
            nodes: [
                .init(id: "a:ingest", inputs: []), .init(id: "b:ingest", inputs: []),
                .init(id: "a:split", inputs: ["a:ingest"]), .init(id: "b:split", inputs: ["b:ingest"]),
                .init(id: "a:fit", inputs: ["a:split"]), .init(id: "b:fit", inputs: ["b:split"]),
            ], cached: [], jobs: 1, slots: 1, keepGoing: false)
        var order: [String] = []
        while !s.isFinished {
            for id in s.start() {
                order.append(id)
                s.finish(id, succeeded: true)
            }
        }
        #expect(order == ["a:ingest", "a:split", "a:fit", "b:ingest", "b:split", "b:fit"])
    }

    @Test func cachedNodesAreNotWaitedFor() {
        var s = diamond(cached: ["a", "b"])
        #expect(s.start() == ["c", "e"])
        #expect(s.status(of: "a") == .cached)
    }

    @Test func aFailureSkipsDownstreamAndStopsTheRun() {
        var s = diamond(jobs: 1)
        #expect(s.start() == ["a"])
        s.finish("a", succeeded: false)
        #expect(s.status(of: "b") == .skipped("a"))
        #expect(s.status(of: "d") == .skipped("a"))
        #expect(s.start().isEmpty)
        #expect(s.status(of: "e") == .notRun)  // without --keep-going, nothing new starts
        #expect(s.isFinished)
    }

    @Test func keepGoingFinishesIndependentBranches() {
        var s = diamond(jobs: 1, keepGoing: true)
        #expect(s.start() == ["a"])
        s.finish("a", succeeded: false)
        #expect(s.start() == ["e"])
        s.finish("e", succeeded: true)
        #expect(s.isFinished)
        #expect(s.status(of: "e") == .done)
        #expect(s.status(of: "c") == .skipped("a"))
    }

    @Test func cancelStartsNothingMoreAndLetsRunningNodesEnd() {
        var s = diamond(jobs: 4)
        #expect(s.start() == ["a", "e"])
        s.cancel()
        #expect(!s.isFinished)
        s.finish("a", succeeded: true)
        #expect(s.start().isEmpty)
        s.finish("e", succeeded: true)
        #expect(s.isFinished)
        #expect(s.status(of: "b") == .notRun)
    }

    @Test func trainingsOnSeveralThreadsTakeEveryComputeSlot() {
        var s = SchedulerState(
            nodes: [
                .init(id: "fit1", inputs: [], cost: 2), .init(id: "fit2", inputs: [], cost: 2),
                .init(id: "data", inputs: []),
            ],
            cached: [], jobs: 4, slots: 2, keepGoing: false)
        #expect(s.start() == ["fit1", "data"])
        s.finish("fit1", succeeded: true)
        #expect(s.start() == ["fit2"])
        var single = SchedulerState(
            nodes: [.init(id: "fit1", inputs: [], cost: 1), .init(id: "fit2", inputs: [], cost: 1)], cached: [],
            jobs: 4,
            slots: 2, keepGoing: false)
        #expect(single.start() == ["fit1", "fit2"])  // one thread each: they share the cores
    }

    @Test func serialNodesStartInGraphOrder() {
        var s = SchedulerState(
            nodes: [
                .init(id: "fit1", inputs: []), .init(id: "fit2", inputs: []),
                .init(id: "reg1", inputs: ["fit1"], serial: "m"), .init(id: "reg2", inputs: ["fit2"], serial: "m"),
            ], cached: [], jobs: 4, slots: 2, keepGoing: true)
        #expect(s.start() == ["fit1", "fit2"])
        s.finish("fit2", succeeded: true)
        #expect(s.start().isEmpty)  // reg2 waits for reg1, which waits for fit1
        s.finish("fit1", succeeded: true)
        #expect(s.start() == ["reg1"])
        s.finish("reg1", succeeded: false)
        #expect(s.start() == ["reg2"])  // a failed earlier registration does not block a later one
    }
}

extension SchedulerStateTests {
    /// `finish` says what follows: the skips in graph order, that the run is stopping, that it is over.
    @Test func finishReturnsTheActionsToTake() {
        var s = diamond(jobs: 1)
        #expect(s.start() == ["a"])
        #expect(s.finish("a", .failed) == [.skip(node: "b", cause: "a"), .skip(node: "c", cause: "a"), .skip(node: "d", cause: "a"), .stopping, .finished])
        var k = diamond(jobs: 4, keepGoing: true)
        #expect(k.start() == ["a", "e"])
        #expect(k.finish("e", .succeeded) == [])
        #expect(k.finish("a", .cancelled) == [.stopping, .finished])
        #expect(k.status(of: "b") == .notRun)
    }
}
