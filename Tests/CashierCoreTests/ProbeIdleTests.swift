import CashierCore
import XCTest

/// Idle checks: a terminal that sends nothing still notices a domain going down or coming back.
final class ProbeIdleTests: XCTestCase {
    func probeRounds(_ actions: [ProbeAction]) -> [Int] {
        actions.compactMap { if case let .probe(_, r) = $0 { return r } else { return nil } }
    }

    func testAFinishedRoundPlansAnIdleCheck() {
        var m = ProbeStateMachine(domainNames: ["a", "b"], configuration: ProbeConfiguration(idleProbeIntervalMs: 15_000))
        XCTAssertEqual(probeRounds(m.handle(.startUp, nowMs: 0)), [1])
        _ = m.handle(.probeAnswered(domain: 0, round: 1, latencyMs: 5), nowMs: 5)
        _ = m.handle(.probeAnswered(domain: 1, round: 1, latencyMs: 9), nowMs: 9)
        XCTAssertEqual(m.nextWakeUpMs, 15_009)
        XCTAssertEqual(probeRounds(m.handle(.timerFired, nowMs: 10_000)), [], "not before its time")
        XCTAssertEqual(probeRounds(m.handle(.timerFired, nowMs: 15_009)), [2])
        // Domain a went silent while idle: the check finds it and b takes over.
        _ = m.handle(.probeAnswered(domain: 1, round: 2, latencyMs: 8), nowMs: 15_017)
        XCTAssertEqual(m.active, 1)
    }

    func testARealTriggerDoesNotWaitForThePlannedIdleCheck() {
        var m = ProbeStateMachine(domainNames: ["a", "b"], configuration: ProbeConfiguration(idleProbeIntervalMs: 15_000))
        _ = m.handle(.startUp, nowMs: 0)
        _ = m.handle(.probeAnswered(domain: 0, round: 1, latencyMs: 5), nowMs: 5)
        _ = m.handle(.probeFailed(domain: 1, round: 1, reason: "refused"), nowMs: 6)
        XCTAssertEqual(probeRounds(m.handle(.requestFailed(domain: 0, reason: "timed out"), nowMs: 5_000)), [2])
    }

    func testZeroTurnsIdleChecksOff() {
        var m = ProbeStateMachine(domainNames: ["a"], configuration: ProbeConfiguration(idleProbeIntervalMs: 0))
        _ = m.handle(.startUp, nowMs: 0)
        _ = m.handle(.probeAnswered(domain: 0, round: 1, latencyMs: 5), nowMs: 5)
        XCTAssertNil(m.nextWakeUpMs)
    }

    func testOlderConfigurationFilesWithoutTheKeyStillLoad() throws {
        let c = try API.decode(ProbeConfiguration.self, from: Array(#"{"min_interval_ms": 1000}"#.utf8))
        XCTAssertEqual(c.minIntervalMs, 1000)
        XCTAssertEqual(c.idleProbeIntervalMs, 15_000)
    }
}
