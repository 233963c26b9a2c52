import CashierClient
import CashierCore
import CashierService
import Foundation
import TestSupport
import XCTest

/// Scale out and scale in while sales run (the seed's section 5).
final class ScalingTests: XCTestCase {
    var service: Cashierd!

    override func tearDown() {
        service?.stop()
        service = nil
    }

    /// Sells continuously on its own thread until stopped (bounded by count and time), recording every outcome.
    final class SalesLoop: @unchecked Sendable {
        // @unchecked: counters guarded by lock; `terminal` is Sendable.
        private let lock = NSLock()
        private(set) var paid: [OrderNumber] = []
        /// When each paid order was created, as seen by the loop.
        private(set) var createdAt: [OrderNumber: Date] = [:]
        private(set) var failures: [String] = []
        private var stopRequested = false
        private let done = DispatchSemaphore(value: 0)

        init(terminal: TestTerminal, maxSales: Int = 2_000, maxSeconds: Double = 60) {
            Thread.detachNewThread { [self] in
                let deadline = Date().addingTimeInterval(maxSeconds)
                for _ in 0..<maxSales {
                    if self.shouldStop || Date() > deadline { break }
                    let started = Date()
                    switch terminal.createOrder(amount: 100).flatMap({ terminal.pay($0.orderNo, code: paymentCode(.paid)) }) {
                    case .success(let o) where o.status == .paid: self.record(paid: o.orderNo, at: started)
                    case .success(let o): self.record(failure: "status \(o.status)")
                    case .failure(let f): self.record(failure: "\(f)")
                    }
                    Thread.sleep(forTimeInterval: 0.02)
                }
                self.done.signal()
            }
        }

        var shouldStop: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested }
        func record(paid n: OrderNumber, at: Date) { lock.lock(); paid.append(n); createdAt[n] = at; lock.unlock() }
        func created(_ n: OrderNumber) -> Date? { lock.lock(); defer { lock.unlock() }; return createdAt[n] }
        func record(failure: String) { lock.lock(); failures.append(failure); lock.unlock() }
        var snapshot: (paid: [OrderNumber], failures: [String]) { lock.lock(); defer { lock.unlock() }; return (paid, failures) }

        func stop() -> (paid: [OrderNumber], failures: [String]) {
            lock.lock(); stopRequested = true; lock.unlock()
            _ = done.wait(timeout: .now() + 30)
            return snapshot
        }
    }

    /// Retries a call while it answers "retry later", as terminals do (bounded).
    private func retrying<T>(_ call: () -> Result<T, CallFailure>) throws -> T {
        let deadline = Date().addingTimeInterval(30)
        while true {
            switch call() {
            case .success(let v): return v
            case .failure(.service(let e)) where e.retryable && Date() < deadline: Thread.sleep(forTimeInterval: 0.3)
            case .failure(let f): throw RuntimeError("\(f)")
            }
        }
    }

    func testAddAGroupWhileSalesRun() throws {
        service = try Cashierd(groups: 2)
        let creds = try service.activateTerminal()
        let loop = SalesLoop(terminal: TestTerminal(transport: try service.transport(), credentials: creds))
        Thread.sleep(forTimeInterval: 1)
        let added = try service.admin(["groups", "add", "--tag", "2"])
        XCTAssertEqual(added.status, 0, added.stderr)
        // Within a few seconds the new group takes orders.
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && !loop.snapshot.paid.contains(where: { $0.group.value == 2 }) { Thread.sleep(forTimeInterval: 0.2) }
        let result = loop.stop()
        XCTAssertTrue(result.paid.contains { $0.group.value == 2 }, "the added group took new orders")
        XCTAssertEqual(result.failures, [], "no sale failed while the group was added")
        XCTAssertEqual(try service.admin(["reconcile"]).status, 0)
    }

    func testRetireAGroupWhileSalesQueriesAndRefundsRun() throws {
        service = try Cashierd(groups: 4)
        let creds = try service.activateTerminal()
        let terminal = TestTerminal(transport: try service.transport(), credentials: creds)
        // Paid orders in every group, before the retirement.
        var old: [OrderView] = []
        while Set(old.map { $0.orderNo.group.value }).count < 4 && old.count < 200 {
            let o = try terminal.createOrder(amount: 1000).unwrap()
            old.append(try terminal.pay(o.orderNo, code: paymentCode(.paid)).unwrap())
        }
        let inRetired = old.filter { $0.orderNo.group.value == 3 }
        XCTAssertFalse(inRetired.isEmpty)

        let loop = SalesLoop(terminal: TestTerminal(transport: try service.transport(), credentials: creds))
        let retireStarted = Date()
        let retire = try service.admin(["groups", "retire", "--tag", "3"])
        XCTAssertEqual(retire.status, 0, retire.stdout + retire.stderr)
        XCTAssertTrue(retire.stdout.contains("into group 00"), "3 mod 3 remaining groups = 0: \(retire.stdout)")
        Thread.sleep(forTimeInterval: 1.5)
        let result = loop.stop()
        XCTAssertFalse(result.paid.isEmpty)
        XCTAssertEqual(result.failures, [], "no new sale failed during the retirement")
        // Instances apply "no new orders" within a second of the first step; orders begun after that never go there.
        let late = result.paid.filter { $0.group.value == 3 && (loop.created($0) ?? .distantPast) > retireStarted.addingTimeInterval(1.5) }
        XCTAssertEqual(late, [], "no new order went to the retiring group once it stopped accepting")

        // Old orders of the retired tag are found, and refunded, through the route.
        for order in inRetired.prefix(3) {
            let found = try retrying { terminal.query(order.orderNo) }
            XCTAssertEqual(found.status, .paid)
            XCTAssertEqual(found.orderNo, order.orderNo)
            let refunded = try retrying { terminal.refund(order.orderNo, amount: 400, ref: "after-retire", pin: Cashierd.supervisorPIN) }
            XCTAssertEqual(refunded.order.refundedAmount, 400)
        }
        let groups = try service.admin(["groups"]).stdout
        XCTAssertTrue(groups.contains("tag 03 → group 00") || groups.contains("tag 3 → group 0"), groups)
        XCTAssertFalse(groups.contains("group 03\t"), groups)
        let reconcile = try service.admin(["reconcile"])
        XCTAssertEqual(reconcile.status, 0, reconcile.stdout)
    }
}
