@testable import CashierClient
import Foundation
import XCTest

/// The race behind a slow safe request: an answer from any copy wins, a transport failure only once
/// every copy has failed.
final class FirstAnswerTests: XCTestCase {
    private struct Failure: Error { var transport: Bool; var name: String }

    private func makeRace() -> FirstAnswer<String, Failure> {
        FirstAnswer<String, Failure>(isTransportFailure: { $0.transport })
    }

    /// A gate for a copy; open ones let it finish at once. (Counted from 0: libdispatch traps when a
    /// semaphore is freed below the value it was made with.)
    private func gate(open: Bool) -> DispatchSemaphore {
        let semaphore = DispatchSemaphore(value: 0)
        if open { semaphore.signal() }
        return semaphore
    }

    /// A copy that finishes when `gate` is opened.
    private func copy(_ gate: DispatchSemaphore, _ result: Result<String, Failure>) -> @Sendable () -> Result<String, Failure> {
        { gate.wait(); return result }
    }

    func testNothingBeforeAnyCopyFinishes() {
        let race = makeRace()
        let closed = gate(open: false)
        race.start(domain: 0, copy(closed, .success("late")))
        XCTAssertNil(race.wait(milliseconds: 50))
        closed.signal()
        XCTAssertEqual(try race.wait(milliseconds: 5_000)?.result.get(), "late")
    }

    func testTheSecondCopysAnswerWinsOverTheFirstCopysSilence() {
        let race = makeRace()
        let silent = gate(open: false)
        let prompt = gate(open: true)
        race.start(domain: 0, copy(silent, .success("from the silent domain")))
        race.start(domain: 1, copy(prompt, .success("from the other domain")))
        let outcome = race.wait(milliseconds: 5_000)
        XCTAssertEqual(outcome?.domain, 1)
        XCTAssertEqual(try outcome?.result.get(), "from the other domain")
        silent.signal()
    }

    func testATransportFailureWaitsForTheOtherCopy() {
        let race = makeRace()
        let first = gate(open: true)
        let second = gate(open: false)
        race.start(domain: 0, copy(first, .failure(Failure(transport: true, name: "timed out"))))
        race.start(domain: 1, copy(second, .success("answered")))
        XCTAssertNil(race.wait(milliseconds: 200), "a timeout is not an answer while another copy runs")
        second.signal()
        let outcome = race.wait(milliseconds: 5_000)
        XCTAssertEqual(outcome?.domain, 1)
        XCTAssertEqual(try outcome?.result.get(), "answered")
    }

    func testARefusalFromTheServiceIsAnAnswer() {
        let race = makeRace()
        let open = gate(open: true)
        let never = gate(open: false)
        race.start(domain: 0, copy(open, .failure(Failure(transport: false, name: "OVERLOADED"))))
        race.start(domain: 1, copy(never, .success("never")))
        let outcome = race.wait(milliseconds: 5_000)
        XCTAssertEqual(outcome?.domain, 0)
        if case .failure(let f)? = outcome?.result { XCTAssertEqual(f.name, "OVERLOADED") } else { XCTFail("\(String(describing: outcome))") }
        never.signal()
    }

    func testWhenEveryCopyFailsTheLatestFailureIsReturned() {
        let race = makeRace()
        let first = gate(open: true)
        race.start(domain: 0, copy(first, .failure(Failure(transport: true, name: "first"))))
        XCTAssertNotNil(race.wait(milliseconds: 5_000), "one copy, failed: nothing more to wait for")
        let second = gate(open: true)
        race.start(domain: 1, copy(second, .failure(Failure(transport: true, name: "second"))))
        Thread.sleep(forTimeInterval: 0.1)
        let outcome = race.wait(milliseconds: 5_000)
        if case .failure(let f)? = outcome?.result { XCTAssertEqual(f.name, "second") } else { XCTFail("\(String(describing: outcome))") }
    }
}
