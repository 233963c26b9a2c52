import CashierCore
import CashierStorage
import Foundation
import XCTest

/// A fresh directory under the system temp dir, removed by `remove()`.
struct TempDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "cashier-storage-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A clock tests move by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var ms: Int64
    init(_ start: Int64 = 1_700_000_000_000) { ms = start }
    var now: Int64 { lock.lock(); defer { lock.unlock() }; return ms }
    func advance(ms delta: Int64) { lock.lock(); ms += delta; lock.unlock() }
}

/// Collects values from several threads.
final class Collector<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func append(_ item: T) { lock.lock(); items.append(item); lock.unlock() }
    var values: [T] { lock.lock(); defer { lock.unlock() }; return items }
}

/// Runs `body(i)` for i in 0..<count on that many threads released together; fails the test if they
/// do not all finish within `timeout` seconds.
func runConcurrently(_ count: Int, timeout: TimeInterval = 30, file: StaticString = #filePath, line: UInt = #line,
                     _ body: @escaping @Sendable (Int) -> Void) {
    let start = DispatchSemaphore(value: 0)
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let t = Thread {
            start.wait()
            body(i)
            group.leave()
        }
        t.start()
    }
    for _ in 0..<count { start.signal() }
    XCTAssertEqual(group.wait(timeout: .now() + timeout), .success, "threads did not finish", file: file, line: line)
}

/// Order numbers for tests: distinct per (sequence, group), one fixed second.
func testOrderNumber(_ sequence: Int, group: Int = 0, instance: Int = 7) -> OrderNumber {
    OrderNumber(epochSeconds: 1_700_000_000, instance: instance, sequence: sequence, group: GroupTag(group)!)
}

func testRefundNumber(_ sequence: Int, group: Int = 0) -> RefundNumber {
    RefundNumber(epochSeconds: 1_700_000_000, instance: 8, sequence: sequence, group: GroupTag(group)!)
}

func testOrder(_ no: OrderNumber, store: String = "S1", amount: Int64 = 1000, createdAt: Int64 = 1_000,
               status: OrderStatus = .created) -> OrderRecord {
    OrderRecord(orderNo: no, merchantID: "M1", storeID: store, deviceID: "D1", amount: amount, currency: "CNY",
                status: status, createdAt: createdAt, updatedAt: createdAt)
}
