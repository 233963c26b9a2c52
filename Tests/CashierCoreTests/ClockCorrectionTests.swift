import CashierCore
import XCTest

/// What a terminal learns about its clock from the service's signed answers.
final class ClockCorrectionTests: XCTestCase {
    func testLearnsTheOffsetToTheMiddleOfTheServicesSecond() {
        var correction = ClockCorrection()
        XCTAssertEqual(correction.serviceTimeMs(localMs: 1_000_000), 1_000_000, "no correction before anything is learnt")
        // The terminal reads 1,000,000 ms; the service stamped second 4,600 (an hour ahead, give or take).
        XCTAssertTrue(correction.learn(serviceSeconds: 4_600, receivedAtLocalMs: 1_000_000))
        XCTAssertEqual(correction.offsetMs, 4_600_500 - 1_000_000)
        XCTAssertEqual(correction.serviceTimeMs(localMs: 1_002_000), 4_602_500)
        XCTAssertTrue(Signing.isFresh(timestamp: correction.serviceTimeMs(localMs: 1_002_000) / 1000, now: 4_602),
                      "a request signed with the corrected time is fresh for the service")
    }

    func testAnOffsetWithinASecondOfTheOneInUseIsNotNews() {
        var correction = ClockCorrection(offsetMs: -3_599_500)
        XCTAssertFalse(correction.learn(serviceSeconds: 996_400, receivedAtLocalMs: 1_000_000_000), "the same offset again")
        XCTAssertFalse(correction.learn(serviceSeconds: 996_401, receivedAtLocalMs: 1_000_000_000), "within the tolerance")
        XCTAssertEqual(correction.offsetMs, -3_599_500)
        XCTAssertTrue(correction.learn(serviceSeconds: 996_410, receivedAtLocalMs: 1_000_000_000), "ten seconds further")
        XCTAssertEqual(correction.offsetMs, -3_589_500)
    }

    func testAbsurdStampsAreIgnoredWithoutTrapping() {
        var correction = ClockCorrection(offsetMs: 42)
        XCTAssertFalse(correction.learn(serviceSeconds: .max, receivedAtLocalMs: 0))
        XCTAssertFalse(correction.learn(serviceSeconds: .min, receivedAtLocalMs: 1_000))
        XCTAssertFalse(correction.learn(serviceSeconds: 0, receivedAtLocalMs: .min))
        XCTAssertEqual(correction.offsetMs, 42)
        let far = ClockCorrection(offsetMs: .max)
        XCTAssertEqual(far.serviceTimeMs(localMs: 5), 5, "an overflowing sum falls back to the terminal's own clock")
    }

    func testDescribesTheOffsetForPeople() {
        XCTAssertEqual(ClockCorrection.describe(offsetMs: 3_600_400), "about 3600 s behind")
        XCTAssertEqual(ClockCorrection.describe(offsetMs: -90_600), "about 91 s ahead of")
    }
}
