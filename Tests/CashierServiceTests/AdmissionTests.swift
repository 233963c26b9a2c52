@testable import CashierService
import CashierChannels
import XCTest

/// The pure parts of the service: admission layers and sandbox scenarios.
final class AdmissionTests: XCTestCase {
    func testLayersRefuseTheLeastUrgentFirst() {
        var policy = AdmissionPolicy(capacity: 10)
        XCTAssertEqual(policy.limit(for: .list), 5)
        XCTAssertEqual(policy.limit(for: .newOrder), 8)
        XCTAssertEqual(policy.limit(for: .completion), 10)
        for _ in 0..<5 { XCTAssertTrue(policy.admit(.list)) }
        XCTAssertFalse(policy.admit(.list))
        for _ in 0..<3 { XCTAssertTrue(policy.admit(.newOrder)) }
        XCTAssertFalse(policy.admit(.newOrder))
        XCTAssertTrue(policy.admit(.completion))
        XCTAssertTrue(policy.admit(.completion))
        XCTAssertFalse(policy.admit(.completion))
        XCTAssertEqual(policy.inFlight, 10)
        policy.finish()
        XCTAssertTrue(policy.admit(.completion))
        XCTAssertFalse(policy.admit(.list))
    }

    func testTinyCapacityStillAdmitsOneOfEach() {
        var policy = AdmissionPolicy(capacity: 1)
        XCTAssertTrue(policy.admit(.list))
        XCTAssertFalse(policy.admit(.completion))
    }

    func testScenariosByLastDigit() {
        XCTAssertEqual(SandboxScenario(paymentCode: "990000000000000000"), .paid)
        XCTAssertEqual(SandboxScenario(paymentCode: "990000000000000003"), .paid)
        XCTAssertEqual(SandboxScenario(paymentCode: "990000000000000004"), .userConfirms)
        XCTAssertEqual(SandboxScenario(paymentCode: "990000000000000009"), .unknownNotPaid)
        XCTAssertNil(SandboxScenario(paymentCode: "980000000000000000"), "first two digits are 99")
        XCTAssertNil(SandboxScenario(paymentCode: "130000000000000000"), "a WeChat Pay code is not a sandbox code")
        XCTAssertNil(SandboxScenario(paymentCode: "99000000000000000"), "18 digits")
        XCTAssertNil(SandboxScenario(paymentCode: "99000000000000000x"))
    }
}

final class RequestLogTests: XCTestCase {
    func testTimestampsAreISO8601UTCWithMilliseconds() {
        XCTAssertEqual(RequestLog.timestamp(ms: 0), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(RequestLog.timestamp(ms: 1_795_600_000_123), "2026-11-25T09:46:40.123Z")
        XCTAssertEqual(RequestLog.timestamp(ms: 951_782_400_007), "2000-02-29T00:00:00.007Z")
    }
}
