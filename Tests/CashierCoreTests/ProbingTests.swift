import XCTest
@testable import CashierCore

/// A small seeded generator so jitter is repeatable in tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class ProbingTests: XCTestCase {
    var rng = SeededGenerator(state: 42)

    func makeMachine(_ config: ProbeConfiguration = ProbeConfiguration()) -> ProbeStateMachine {
        ProbeStateMachine(domainNames: ["primary", "backup"], configuration: config)
    }

    func probes(_ actions: [ProbeAction]) -> [(domains: [Int], round: Int)] {
        actions.compactMap { if case let .probe(d, r) = $0 { return (d, r) } else { return nil } }
    }

    func timers(_ actions: [ProbeAction]) -> [Int64] {
        actions.compactMap { if case let .scheduleTimer(at) = $0 { return at } else { return nil } }
    }

    /// A cold start uses the domain an earlier run found good a moment ago, without waiting for its own
    /// probes; a stale result, or one that comes after this run's own winner, changes nothing.
    func testARememberedFreshResultIsUsedAtOnceAndTheRoundStillDecides() {
        var m = makeMachine()
        _ = m.handle(.startUp, nowMs: 100_000, random: &rng)
        XCTAssertNil(m.active)
        XCTAssertEqual(m.handle(.remembered(domain: 1, latencyMs: 30, atMs: 30_000, maxAgeMs: 60_000), nowMs: 100_000, random: &rng), [])
        XCTAssertNil(m.active, "70 s old is too old")
        let fresh = m.handle(.remembered(domain: 1, latencyMs: 30, atMs: 95_000, maxAgeMs: 60_000), nowMs: 100_000, random: &rng)
        XCTAssertTrue(fresh.contains(.activate(1)))
        XCTAssertEqual(m.active, 1)
        XCTAssertTrue(m.roundRunning, "the start-up round goes on")
        // This round's first answer takes over.
        XCTAssertTrue(m.handle(.probeAnswered(domain: 0, round: 1, latencyMs: 20), nowMs: 100_020, random: &rng).contains(.activate(0)))
        XCTAssertEqual(m.active, 0)
        XCTAssertEqual(m.handle(.remembered(domain: 1, latencyMs: 30, atMs: 99_000, maxAgeMs: 60_000), nowMs: 100_030, random: &rng), [])
        XCTAssertEqual(m.active, 0)
    }

    func testStartUpProbesAllDomainsConcurrentlyAndFirstAnswerWins() {
        var m = makeMachine()
        let a = m.handle(.startUp, nowMs: 1_000, random: &rng)
        XCTAssertEqual(probes(a).map(\.domains), [[0, 1]])
        XCTAssertEqual(probes(a).map(\.round), [1])
        XCTAssertTrue(m.roundRunning)
        // The backup answers first: it wins at once, even though the primary is faster when it answers.
        let first = m.handle(.probeAnswered(domain: 1, round: 1, latencyMs: 80), nowMs: 1_080, random: &rng)
        XCTAssertTrue(first.contains(.activate(1)))
        XCTAssertEqual(m.active, 1)
        let later = m.handle(.probeAnswered(domain: 0, round: 1, latencyMs: 20), nowMs: 1_100, random: &rng)
        XCTAssertFalse(later.contains { if case .activate = $0 { return true } else { return false } })
        XCTAssertEqual(m.active, 1)
        XCTAssertEqual(m.domains[0].latencyMs, 20, "later answers still update the table")
        XCTAssertEqual(m.domains[1].latencyMs, 80)
        XCTAssertFalse(m.roundRunning)
        XCTAssertFalse(m.unreachable)
    }

    func testFirstGoodAnswerWinsEvenAfterAFailure() {
        var m = makeMachine()
        _ = m.handle(.startUp, nowMs: 0, random: &rng)
        let fail = m.handle(.probeFailed(domain: 0, round: 1, reason: "refused"), nowMs: 5, random: &rng)
        XCTAssertFalse(fail.contains(.activate(0)))
        XCTAssertEqual(m.domains[0].error, "refused")
        XCTAssertNil(m.active)
        let ok = m.handle(.probeAnswered(domain: 1, round: 1, latencyMs: 30), nowMs: 30, random: &rng)
        XCTAssertTrue(ok.contains(.activate(1)))
        XCTAssertFalse(m.unreachable)
    }

    func testTriggersDuringARoundAreCoalesced() {
        var m = makeMachine()
        _ = m.handle(.startUp, nowMs: 0, random: &rng)
        let again = m.handle(.requestFailed(domain: 0, reason: "timed out"), nowMs: 10, random: &rng)
        XCTAssertTrue(again.contains(.coalesced))
        XCTAssertTrue(probes(again).isEmpty)
        XCTAssertEqual(m.round, 1)
    }

    func testTriggersWithinMinIntervalShareOneDeferredRound() {
        var m = makeMachine()
        _ = m.handle(.startUp, nowMs: 0, random: &rng)
        _ = m.handle(.probeAnswered(domain: 0, round: 1, latencyMs: 10), nowMs: 10, random: &rng)
        _ = m.handle(.probeAnswered(domain: 1, round: 1, latencyMs: 20), nowMs: 20, random: &rng)
        let t1 = m.handle(.requestFailed(domain: 0, reason: "timed out"), nowMs: 500, random: &rng)
        let t2 = m.handle(.requestFailed(domain: 0, reason: "refused"), nowMs: 900, random: &rng)
        XCTAssertTrue(t1.contains(.coalesced)); XCTAssertTrue(t2.contains(.coalesced))
        XCTAssertTrue(probes(t1 + t2).isEmpty)
        XCTAssertEqual(timers(t1), [2_000])
        XCTAssertTrue(probes(m.handle(.timerFired, nowMs: 1_500, random: &rng)).isEmpty, "an early wake-up probes nothing")
        let fired = m.handle(.timerFired, nowMs: 2_000, random: &rng)
        XCTAssertEqual(probes(fired).map(\.round), [2], "exactly one round for both triggers")
        XCTAssertEqual(m.round, 2)
    }

    func testTriggerAfterMinIntervalProbesAtOnce() {
        var m = makeMachine()
        _ = m.handle(.startUp, nowMs: 0, random: &rng)
        _ = m.handle(.probeAnswered(domain: 0, round: 1, latencyMs: 10), nowMs: 10, random: &rng)
        _ = m.handle(.probeAnswered(domain: 1, round: 1, latencyMs: 20), nowMs: 20, random: &rng)
        let a = m.handle(.requestFailed(domain: 0, reason: "refused"), nowMs: 2_500, random: &rng)
        XCTAssertEqual(probes(a).map(\.round), [2])
        XCTAssertFalse(a.contains(.coalesced))
    }

    /// A request still waiting is not held against its domain, but it starts a round whose winner takes over.
    func testASlowRequestProbesWithoutMarkingItsDomainFailed() {
        var m = makeMachine()
        _ = m.handle(.startUp, nowMs: 0, random: &rng)
        _ = m.handle(.probeAnswered(domain: 0, round: 1, latencyMs: 10), nowMs: 10, random: &rng)
        _ = m.handle(.probeAnswered(domain: 1, round: 1, latencyMs: 20), nowMs: 20, random: &rng)
        XCTAssertEqual(m.active, 0)
        let slow = m.handle(.requestSlow(domain: 0, afterMs: 600), nowMs: 3_000, random: &rng)
        XCTAssertEqual(probes(slow).map(\.round), [2])
        XCTAssertNil(m.domains[0].error)
        XCTAssertEqual(m.active, 0, "the waiting request's domain stays active until another wins")
        XCTAssertTrue(m.handle(.probeAnswered(domain: 1, round: 2, latencyMs: 5), nowMs: 3_005, random: &rng).contains(.activate(1)))
        XCTAssertTrue(m.handle(.requestSlow(domain: 1, afterMs: 600), nowMs: 3_100, random: &rng).contains(.coalesced),
                      "slow requests share rounds like any other trigger")
    }

    func testProbeTimeoutCountsAsFailure() {
        var m = makeMachine(ProbeConfiguration(probeTimeoutMs: 1_000))
        let a = m.handle(.startUp, nowMs: 0, random: &rng)
        XCTAssertEqual(timers(a), [1_000])
        _ = m.handle(.probeAnswered(domain: 0, round: 1, latencyMs: 50), nowMs: 50, random: &rng)
        _ = m.handle(.timerFired, nowMs: 1_000, random: &rng)
        XCTAssertFalse(m.roundRunning)
        XCTAssertNotNil(m.domains[1].error)
        XCTAssertEqual(m.active, 0)
        XCTAssertFalse(m.unreachable)
    }

    func testAllFailMarksUnreachableAndBacksOffWithBoundedCappedJitter() {
        let config = ProbeConfiguration(minIntervalMs: 2_000, backoffBaseMs: 500, backoffCeilingMs: 30_000,
                                        jitterFraction: 0.2, probeTimeoutMs: 1_000)
        var m = makeMachine(config)
        var now: Int64 = 0
        var a = m.handle(.startUp, nowMs: now, random: &rng)
        var delays: [Int64] = []
        for roundNo in 1...10 {
            XCTAssertEqual(probes(a).last?.round, roundNo)
            _ = m.handle(.probeFailed(domain: 0, round: roundNo, reason: "refused"), nowMs: now, random: &rng)
            let end = m.handle(.probeFailed(domain: 1, round: roundNo, reason: "refused"), nowMs: now, random: &rng)
            XCTAssertTrue(m.unreachable)
            XCTAssertEqual(m.failedRoundsInARow, roundNo)
            guard let at = timers(end).last else { return XCTFail("no retry timer") }
            let delay = at - now
            delays.append(delay)
            let base = Double(config.baseBackoffMs(failedRounds: roundNo))
            XCTAssertGreaterThanOrEqual(Double(delay), (base * 0.8).rounded(.down))
            XCTAssertLessThanOrEqual(Double(delay), min(base * 1.2, 30_000).rounded(.up))
            XCTAssertLessThanOrEqual(delay, 30_000)
            // A trigger while a retry is planned joins it.
            XCTAssertTrue(m.handle(.requestFailed(domain: 0, reason: "refused"), nowMs: now + 1, random: &rng).contains(.coalesced))
            now = at
            a = m.handle(.timerFired, nowMs: now, random: &rng)
        }
        XCTAssertGreaterThan(delays[4], delays[0] * 8, "delays grow exponentially")
        XCTAssertGreaterThanOrEqual(delays.last!, 24_000, "late delays sit near the ceiling")
        XCTAssertEqual(config.baseBackoffMs(failedRounds: 1), 500)
        XCTAssertEqual(config.baseBackoffMs(failedRounds: 4), 4_000)
        XCTAssertEqual(config.baseBackoffMs(failedRounds: 1_000), 30_000)
        XCTAssertEqual(config.backoffMs(failedRounds: 20, unitRandom: 0.999), 30_000, "jitter never exceeds the cap")
        XCTAssertEqual(config.backoffMs(failedRounds: 1, unitRandom: 0), 400)
    }

    func testRecoveryAfterUnreachableResetsBackoff() {
        var m = makeMachine(ProbeConfiguration(probeTimeoutMs: 1_000))
        _ = m.handle(.startUp, nowMs: 0, random: &rng)
        _ = m.handle(.probeFailed(domain: 0, round: 1, reason: "refused"), nowMs: 1, random: &rng)
        let end = m.handle(.probeFailed(domain: 1, round: 1, reason: "refused"), nowMs: 2, random: &rng)
        XCTAssertTrue(m.unreachable)
        XCTAssertNil(m.active)
        let at = timers(end).last!
        let retry = m.handle(.timerFired, nowMs: at, random: &rng)
        XCTAssertEqual(probes(retry).map(\.round), [2])
        let win = m.handle(.probeAnswered(domain: 0, round: 2, latencyMs: 15), nowMs: at + 15, random: &rng)
        XCTAssertTrue(win.contains(.activate(0)))
        XCTAssertFalse(m.unreachable)
        XCTAssertEqual(m.failedRoundsInARow, 0)
    }

    func testAnswersFromAnOldRoundOnlyUpdateTheTable() {
        var m = makeMachine(ProbeConfiguration(probeTimeoutMs: 1_000))
        _ = m.handle(.startUp, nowMs: 0, random: &rng)
        _ = m.handle(.timerFired, nowMs: 1_000, random: &rng)  // both time out
        XCTAssertTrue(m.unreachable)
        let late = m.handle(.probeAnswered(domain: 1, round: 1, latencyMs: 1_200), nowMs: 1_200, random: &rng)
        XCTAssertFalse(late.contains(.activate(1)))
        XCTAssertNil(m.active)
        XCTAssertEqual(m.domains[1].latencyMs, 1_200)
    }
}
