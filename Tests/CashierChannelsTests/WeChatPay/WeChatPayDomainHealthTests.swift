import CashierChannels
import XCTest

/// The domain rules as a pure state machine: which domain a call starts at, and where one call may go next.
final class WeChatPayDomainHealthTests: XCTestCase {
    func testThePrimaryIsMarkedBadOnlyAfterMoreThanTwoUnreachableAttempts() {
        var health = WeChatPayDomainHealth()
        XCTAssertEqual(health.domainForCall(now: 0), .primary)
        health.record(.unreachable, at: .primary, now: 1)
        health.record(.unreachable, at: .primary, now: 2)
        XCTAssertEqual(health.domainForCall(now: 3), .primary, "two are tolerated")
        health.record(.unreachable, at: .primary, now: 4)
        XCTAssertTrue(health.isPrimaryBad)
        XCTAssertEqual(health.primaryBadSince, 4)
        XCTAssertEqual(health.domainForCall(now: 5), .backup)
        XCTAssertEqual(health.domainForCall(now: 4 + 179_999), .backup, "the backup until 3 minutes have passed")
    }

    func testFailuresAfterConnectingNeverCountAgainstADomain() {
        var health = WeChatPayDomainHealth()
        for t in 0..<10 { health.record(.failedOtherwise, at: .primary, now: Int64(t)) }
        XCTAssertFalse(health.isPrimaryBad)
        XCTAssertEqual(health.domainForCall(now: 11), .primary)
    }

    func testAnAnswerClearsTheCount() {
        var health = WeChatPayDomainHealth()
        health.record(.unreachable, at: .primary, now: 1)
        health.record(.unreachable, at: .primary, now: 2)
        health.record(.answered, at: .primary, now: 3)
        health.record(.unreachable, at: .primary, now: 4)
        health.record(.unreachable, at: .primary, now: 5)
        XCTAssertFalse(health.isPrimaryBad, "not three in a row")
    }

    func testThePrimaryIsTriedAgainAfterThreeMinutesOnProbation() {
        var health = WeChatPayDomainHealth()
        for t in 1...3 { health.record(.unreachable, at: .primary, now: Int64(t)) }
        XCTAssertEqual(health.domainForCall(now: 3 + 180_000), .primary)
        XCTAssertFalse(health.isPrimaryBad)
        XCTAssertTrue(health.primaryOnProbation)
        // Still down: one failure marks it bad again at once.
        health.record(.unreachable, at: .primary, now: 3 + 180_001)
        XCTAssertTrue(health.isPrimaryBad)
        XCTAssertEqual(health.domainForCall(now: 3 + 180_002), .backup)
        // Back: the next return to it sticks.
        XCTAssertEqual(health.domainForCall(now: 3 + 360_001), .primary)
        health.record(.answered, at: .primary, now: 3 + 360_002)
        XCTAssertFalse(health.primaryOnProbation)
        health.record(.unreachable, at: .primary, now: 3 + 360_003)
        XCTAssertFalse(health.isPrimaryBad)
        XCTAssertEqual(health.domainForCall(now: 3 + 360_004), .primary)
    }

    func testAnAnswerFromThePrimaryWhileBadMakesItGoodAgain() {
        var health = WeChatPayDomainHealth()
        for t in 1...3 { health.record(.unreachable, at: .primary, now: Int64(t)) }
        health.record(.answered, at: .primary, now: 10)
        XCTAssertEqual(health.domainForCall(now: 11), .primary)
    }

    func testWhenBothAreFailingTheNearestIsTriedFirst() {
        var health = WeChatPayDomainHealth()
        for t in 1...3 { health.record(.unreachable, at: .primary, now: Int64(t)) }
        for t in 4...7 { health.record(.unreachable, at: .backup, now: Int64(t)) }
        XCTAssertEqual(health.domainForCall(now: 8), .primary)
        health.record(.answered, at: .backup, now: 9)
        XCTAssertEqual(health.domainForCall(now: 10), .backup)
    }

    func testTheRuleIsConfigurable() {
        var health = WeChatPayDomainHealth(failuresTolerated: 0, retryPrimaryAfterMs: 1_000)
        health.record(.unreachable, at: .primary, now: 0)
        XCTAssertEqual(health.domainForCall(now: 999), .backup)
        XCTAssertEqual(health.domainForCall(now: 1_000), .primary)
    }

    // MARK: - One call's plan

    func testAPayIsNeverSentToTheOtherDomainAfterItMayHaveArrived() {
        var plan = WeChatPayCallPlan(delivery: .atMostOnce, first: .primary)
        XCTAssertEqual(plan.firstStep, .send(to: .primary))
        XCTAssertEqual(plan.next(after: .maybeSent), .giveUp)
        XCTAssertEqual(plan.tried, [.primary])
    }

    func testAPayGoesToTheOtherDomainOnlyWhenItSurelyDidNotLeave() {
        var plan = WeChatPayCallPlan(delivery: .atMostOnce, first: .primary)
        XCTAssertEqual(plan.next(after: .notSent), .send(to: .backup))
        XCTAssertEqual(plan.next(after: .maybeSent), .giveUp)
        var twice = WeChatPayCallPlan(delivery: .atMostOnce, first: .backup)
        XCTAssertEqual(twice.next(after: .notSent), .send(to: .primary))
        XCTAssertEqual(twice.next(after: .notSent), .giveUp, "one attempt per domain")
    }

    func testAQueryMayGoToTheOtherDomainAfterAnyFailureButOnlyOnce() {
        var plan = WeChatPayCallPlan(delivery: .repeatable, first: .primary)
        XCTAssertEqual(plan.next(after: .maybeSent), .send(to: .backup))
        XCTAssertEqual(plan.next(after: .maybeSent), .giveUp)
        XCTAssertEqual(plan.tried, [.primary, .backup])
    }
}
