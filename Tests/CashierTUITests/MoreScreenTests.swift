import XCTest
import Foundation
import CashierCore
@testable import CashierTUI

/// The refund references a backend was sent, in order (the closure answering commands is @Sendable).
final class RefRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var refs: [String] = []
    /// Records a reference and returns how many were sent before it.
    func record(_ ref: String) -> Int { lock.lock(); defer { lock.unlock() }; refs.append(ref); return refs.count - 1 }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return refs }
}

final class MoreScreenTests: XCTestCase {
    func testRefundRetryReusesTheSameReference() throws {
        let n = CannedBackend.orderNumber(8)
        func backend(_ recorder: RefRecorder) -> CannedBackend { CannedBackend { command in
            switch command {
            case .lookupOrder:
                return [.order(.success(CannedBackend.order(n, amount: 5000, status: .paid)))]
            case .refund(_, let amount, _, let ref):
                if recorder.record(ref) == 0 { return [.refund(.failure(APIError(.serviceUnreachable)))] }
                return [.refund(.success(RefundView(refundNo: RefundNumber(epochSeconds: 1_764_000_200, instance: 7, sequence: 1, group: GroupTag(2)!),
                                                    orderNo: n, amount: amount, currency: "CNY", refundRef: ref,
                                                    status: .pending, createdAt: 1_764_000_200_000)))]
            default:
                return []
            }
        } }
        let failed = try runKeyScript("r\(n.digits)<Enter><Enter>9999<Enter><Enter>", backend: backend(RefRecorder()))
        XCTAssertTrue(failed.contains("cannot be reached") && failed.contains("Enter retries (same reference)."), failed)
        let recorder = RefRecorder()
        let done = try runKeyScript("r\(n.digits)<Enter><Enter>9999<Enter><Enter><Enter>", backend: backend(recorder))
        XCTAssertTrue(done.contains("REFUND PENDING 50.00 CNY"), done)     // empty amount = everything refundable
        let refs = recorder.all
        XCTAssertEqual(refs.count, 2)
        XCTAssertEqual(refs.first, refs.last, "the retry must reuse the first attempt's reference")
        XCTAssertFalse(refs[0].isEmpty)
    }

    func testBackspaceRemovesLinesAndVoidClearsTheSale() throws {
        let b = CannedBackend()
        let one = try runKeyScript("5<Enter>7<Enter><BS>", backend: b)
        XCTAssertTrue(one.contains("5.00 CNY") && !one.contains("7.00"), one)
        let voided = try runKeyScript("5<Enter>7<Enter><Enter><F8>", backend: b)
        XCTAssertTrue(voided.contains("Sale voided.") && voided.contains("0.00 CNY"), voided)
        let blocked = try runKeyScript("5<Enter>o", backend: b)
        XCTAssertTrue(blocked.contains("Finish or void the current sale first"), blocked)
        let empty = try runKeyScript("<Enter>", backend: b)
        XCTAssertTrue(empty.contains("Enter an amount or an item code first."), empty)
        let tooBig = try runKeyScript("100000000<Enter>", backend: b)
        XCTAssertTrue(tooBig.contains("Not an amount"), tooBig)
    }

    func testOrdersWarnAboutGroupsThatDidNotAnswer() throws {
        let b = CannedBackend { command in
            guard case .listOrders = command else { return [] }
            return [.orderList(.success(OrderListResponse(orders: [], nextCursor: nil, unavailableGroups: [3, 7])))]
        }
        let text = try runKeyScript("<F3>", backend: b)
        XCTAssertTrue(text.contains("Orders of database group(s) 3, 7 are missing"), text)
        XCTAssertTrue(text.contains("No orders yet."))
    }

    func testPaymentResultUnknownTellsTheCashierToCheck() throws {
        let n = CannedBackend.orderNumber(9)
        let b = CannedBackend { command in
            guard case .startSale = command else { return [] }
            return [.sale(.reversing(n, attempts: 20), secondsLeft: nil), .sale(.finished(.needsAttention(n, "no answer")), secondsLeft: nil)]
        }
        let text = try runKeyScript("5<Enter><Enter>1234567890<Enter>", backend: b)
        XCTAssertTrue(text.contains("RESULT UNKNOWN — check order \(n.digits)"), text)
    }
}
