import Foundation
import CashierCore
import XCTest
@testable import CashierTUI

/// The cash tender key and the shift screen, driven by key scripts against canned answers.
final class ShiftScreenTests: XCTestCase {
    private static let staff = StaffView(staffId: "P1", name: "Ann", role: "cashier")

    private static func shift(_ status: ShiftStatus, z: Int? = nil, counted: Int64? = nil) -> ShiftResponse {
        let view = ShiftView(shiftId: "SH00000000000000AA", storeId: "S001", deviceId: "DEV-0001", status: status, currency: "CNY",
                             openingFloat: 10_000, openedAt: 1_764_000_000_000, openedBy: staff,
                             closedAt: status == .closed ? 1_764_000_900_000 : nil, countedCash: counted, zNumber: z)
        return ShiftResponse(shift: view, report: ShiftTally.report(view, sales: [
            .init(orderNo: CannedBackend.orderNumber(1), tender: "cash", status: .paid, amount: 2_500),
        ], refunds: [], now: 1_764_000_900_000))
    }

    func testCashTakesTheAmountTypedAsTheCashGivenAndShowsTheChangeLarge() throws {
        let n = CannedBackend.orderNumber(3)
        let b = CannedBackend { command in
            guard case .startCashSale(let sale) = command, sale.amount == 2_500 else { return [] }
            let view = OrderView(orderNo: n, storeId: "S001", deviceId: "DEV-0001", amount: sale.amount, currency: "CNY", status: .paid,
                                 createdAt: 1, updatedAt: 1, paidAt: 1, tender: .cash, cashGiven: sale.cashGiven ?? sale.amount)
            return [.sale(.finished(.paid(view)), secondsLeft: nil)]
        }
        let paid = try runKeyScript("25.00<Enter>50.00<F4>", backend: b)
        XCTAssertTrue(paid.contains("CHANGE 25.00 CNY") && paid.contains("PAID"), paid)
        let exact = try runKeyScript("25.00<Enter><F4>", backend: b)
        XCTAssertTrue(exact.contains("CHANGE 0.00 CNY"), exact)
        let short = try runKeyScript("25.00<Enter>20.00<F4>", backend: b)
        XCTAssertTrue(short.contains("The cash given must be at least the total, 25.00 CNY."), short)
        XCTAssertTrue(try runKeyScript("<F4>", backend: b).contains("Enter an amount or an item code first."))
    }

    func testSignInOpenAndCloseWithASupervisorWhenTheCountIsOff() throws {
        var status = CannedBackend.activeStatus
        status.staff = Self.staff
        let b = CannedBackend(snapshot: status) { command in
            switch command {
            case .shiftReport: return [.shift(.success(Self.shift(.open)))]
            case .closeShift(let counted, nil) where counted != 12_500:
                return [.shift(.failure(APIError(.supervisorRequired, detail: "counted 100.00, expected 125.00")))]
            case .closeShift(let counted, let pin) where pin == "2468" || counted == 12_500:
                return [.shift(.success(Self.shift(.closed, z: 4, counted: counted)))]
            default: return []
            }
        }
        let x = try runKeyScript("<F5>", backend: b)
        XCTAssertTrue(x.contains("X REPORT") && x.contains("Sales Cash ×1") && x.contains("125.00 CNY"), x)
        XCTAssertTrue(x.contains("Signed in: Ann (cashier)"), x)
        let asked = try runKeyScript("<F5>100.00<F6>", backend: b)
        XCTAssertTrue(asked.contains("Supervisor PIN:") && asked.contains("Counted: 100.00 CNY"), asked)
        let closed = try runKeyScript("<F5>100.00<F6>2468<Enter>", backend: b)
        XCTAssertTrue(closed.contains("Z REPORT No. 4") && closed.contains("-25.00 CNY"), closed)
        XCTAssertFalse(closed.contains("2468"), "the PIN is never drawn")
        let even = try runKeyScript("<F5>125.00<F6>", backend: b)
        XCTAssertTrue(even.contains("Z REPORT No. 4") && even.contains("Shift closed: Z report No. 4 printed."), even)
    }

    func testNobodySignedInIsAskedForTheirPINThenTheFloat() throws {
        let b = CannedBackend { command in
            switch command {
            case .shiftReport: return [.shift(.failure(APIError(.shiftNotFound)))]
            case .signIn("1357"): return [.signedIn(.success(Self.staff))]
            case .openShift(let float) where float == 20_000: return [.shift(.success(Self.shift(.open)))]
            default: return []
            }
        }
        let asked = try runKeyScript("<F5>", backend: b)
        XCTAssertTrue(asked.contains("Staff PIN:"), asked)
        let masked = try runKeyScript("<F5>1357", backend: b)
        XCTAssertTrue(masked.contains("Staff PIN: ••••") && !masked.contains("1357"), masked)
        XCTAssertTrue(try runKeyScript("<F5>12<Enter>", backend: b).contains("A staff PIN is 4 to 12 digits."))
        var signedIn = CannedBackend.activeStatus
        signedIn.staff = Self.staff
        let opening = CannedBackend(snapshot: signedIn, answer: b.answer)
        let noShift = try runKeyScript("<F5>", backend: opening)
        XCTAssertTrue(noShift.contains("No shift is open") && noShift.contains("Opening float:"), noShift)
        let opened = try runKeyScript("<F5>200.00<Enter>", backend: opening)
        XCTAssertTrue(opened.contains("X REPORT") && opened.contains("Opening float"), opened)
        XCTAssertTrue(try runKeyScript("<F5>abc<Enter>", backend: opening).contains("Opening float:"), "letters are not typed into an amount")
    }
}

/// docs/CLIENT.md lists every request of the key table with the help screen's own description.
final class KeyDocumentationTests: XCTestCase {
    func testTheClientDocsListEveryKeyOfEveryScreen() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let page = try String(contentsOf: root.appendingPathComponent("docs/CLIENT.md"), encoding: .utf8)
        let s = Strings(language: .english)
        for keymap in KeyMap.allCases {
            for entry in KeyTable.standard.requests(in: keymap) {
                XCTAssertTrue(page.contains("| \(s[entry.request.descriptionKey]) |"), "docs/CLIENT.md lacks \(entry.request) of \(keymap)")
            }
        }
    }
}

/// Split tender on the checkout: part by code, the rest by cash; a void of a partly paid sale.
final class SplitTenderScreenTests: XCTestCase {
    private static let code = "994567890123456789"

    private func backend(refunds: @escaping @Sendable () -> Void = {}) -> CannedBackend {
        CannedBackend { command in
            func view(_ amount: Int64, cash: Bool, seq: Int) -> OrderView {
                OrderView(orderNo: CannedBackend.orderNumber(seq), storeId: "S001", deviceId: "DEV-0001", amount: amount, currency: "CNY",
                          status: .paid, createdAt: 1, updatedAt: 1, paidAt: 1, tender: cash ? .cash : .code, cashGiven: cash ? amount : nil)
            }
            switch command {
            case .startSale(let sale) where sale.clientRef?.hasPrefix("SPLIT") == true && sale.items.isEmpty:
                return [.sale(.finished(.paid(view(sale.amount, cash: false, seq: 1))), secondsLeft: nil)]
            case .startCashSale(let sale) where sale.clientRef?.hasPrefix("SPLIT") == true:
                return [.sale(.finished(.paid(view(sale.amount, cash: true, seq: 2))), secondsLeft: nil)]
            case .refund(let order, let amount, _, _):
                refunds()
                return [.refund(.success(RefundView(refundNo: RefundNumber(epochSeconds: 1_764_000_000, instance: 1, sequence: 1, group: order.group),
                                                     orderNo: order, amount: amount, currency: "CNY", refundRef: "v", status: .succeeded, createdAt: 1)))]
            default: return []
            }
        }
    }

    func testAPartByCodeThenTheRestInCash() throws {
        let part = try runKeyScript("25.00<Enter>10.00<F6>", backend: backend())
        XCTAssertTrue(part.contains("Scan the payment code for the part of 10.00 CNY."), part)
        let paid = try runKeyScript("25.00<Enter>10.00<F6>\(Self.code)<Enter>", backend: backend())
        XCTAssertTrue(paid.contains("Paid 10.00 CNY; 15.00 CNY still due"), paid)
        XCTAssertTrue(paid.contains("Paid: code 10.00   Due: 15.00 CNY"), paid)
        let rest = try runKeyScript("25.00<Enter>10.00<F6>\(Self.code)<Enter>20.00<F4>", backend: backend())
        XCTAssertTrue(rest.contains("PAID") && rest.contains("CHANGE 5.00 CNY") == false, "exact given is the due: \(rest)")
        XCTAssertTrue(try runKeyScript("25.00<Enter>30.00<F6>", backend: backend()).contains("less than 25.00 CNY"))
        let leave = try runKeyScript("25.00<Enter>10.00<F6>\(Self.code)<Enter><Esc>", backend: backend())
        XCTAssertTrue(leave.contains("Part of this sale is paid"), leave)
    }

    func testVoidingAPartlyPaidSaleNeedsASupervisorAndRefundsTheParts() throws {
        let asked = try runKeyScript("25.00<Enter>10.00<F6>\(Self.code)<Enter><F8>", backend: backend())
        XCTAssertTrue(asked.contains("1 part(s) already paid") && asked.contains("Supervisor PIN to void:"), asked)
        let voided = try runKeyScript("25.00<Enter>10.00<F6>\(Self.code)<Enter><F8>2468<Enter>", backend: backend())
        XCTAssertTrue(voided.contains("Sale voided; 1 paid part(s) refunded."), voided)
        XCTAssertFalse(voided.contains("2468"))
    }
}

/// The idle lock: over the sale after the idle time, gone with a staff PIN, the sale kept.
final class IdleLockTests: XCTestCase {
    func testTheScreenLocksWhenIdleAndAStaffPINUnlocksItWithTheSaleKept() throws {
        var status = CannedBackend.activeStatus
        status.staff = StaffView(staffId: "P1", name: "Ann", role: "cashier")
        status.idleLockSeconds = 60
        let b = CannedBackend(snapshot: status) { command in
            switch command {
            case .signIn("1357"): return [.signedIn(.success(StaffView(staffId: "P1", name: "Ann", role: "cashier")))]
            case .signIn: return [.signedIn(.failure(APIError(.pinInvalid)))]
            default: return []
            }
        }
        let early = try runKeyScript("25.00<Enter><Wait:30>", backend: b)
        XCTAssertFalse(early.contains("LOCKED"), early)
        let locked = try runKeyScript("25.00<Enter><Wait:61>", backend: b)
        XCTAssertTrue(locked.contains("LOCKED") && locked.contains("Ann was signed in"), locked)
        XCTAssertFalse(locked.contains("25.00"), "nothing of the sale shows behind the lock")
        let refused = try runKeyScript("25.00<Enter><Wait:61>0000<Enter>", backend: b)
        XCTAssertTrue(refused.contains("LOCKED") && refused.contains("The PIN is wrong."), refused)
        let noQuit = try runKeyScript("25.00<Enter><Wait:61><F10><Esc>", backend: b)
        XCTAssertTrue(noQuit.contains("The screen is locked"), "neither quit nor back past the lock: \(noQuit)")
        let back = try runKeyScript("25.00<Enter><Wait:61>1357<Enter>", backend: b)
        XCTAssertTrue(back.contains("Cashier — Checkout") && back.contains("25.00"), "the sale is still there: \(back)")
        var nobody = status
        nobody.staff = nil
        XCTAssertFalse(try runKeyScript("25.00<Enter><Wait:61>", backend: CannedBackend(snapshot: nobody)).contains("LOCKED"),
                       "nobody signed in: nothing to lock")
    }
}

/// Line editing on checkout: a quantity changed, a discount within the limit, one over it allowed by a supervisor.
final class LineEditingTests: XCTestCase {
    private let items = ["111": OrderItem(sku: "111", name: "Bread", quantity: 1, unitPrice: 1_000)]

    func testQuantityAndDiscountsChangeTheTotalAndGoOutWithTheSale() throws {
        let sent = SentBox()
        let b = CannedBackend(items: items) { command in
            switch command {
            case .checkSupervisor("2468"): return [.supervisorChecked(.success(StaffView(staffId: "P2", name: "Sam", role: "supervisor")))]
            case .checkSupervisor: return [.supervisorChecked(.failure(APIError(.pinNotSupervisor)))]
            case .startCashSale(let sale): sent.put(sale.items); return []
            default: return []
            }
        }
        let qty = try runKeyScript("111<Enter>*3<Enter>", backend: b)
        XCTAssertTrue(qty.contains("30.00 CNY"), qty)
        let small = try runKeyScript("111<Enter>*3<Enter>-10%<Enter>", backend: b)
        XCTAssertTrue(small.contains("Discount of 3.00 CNY on the last line.") && small.contains("27.00 CNY"), small)
        let asked = try runKeyScript("111<Enter>-5.00<Enter>", backend: b)
        XCTAssertTrue(asked.contains("over 10% of the line") && asked.contains("Supervisor PIN for the discount:"), asked)
        let refused = try runKeyScript("111<Enter>-5.00<Enter>1357<Enter>", backend: b)
        XCTAssertTrue(refused.contains("10.00 CNY") && !refused.contains("5.00 CNY on the last"), refused)
        let allowed = try runKeyScript("111<Enter>-5.00<Enter>2468<Enter><F4>", backend: b)
        XCTAssertFalse(allowed.contains("2468"))
        XCTAssertEqual(sent.value, [OrderItem(sku: "111", name: "Bread", quantity: 1, unitPrice: 1_000, discount: 500)],
                       "the discount goes out with the line")
        XCTAssertTrue(try runKeyScript("111<Enter>-200%<Enter>", backend: b).contains("A discount is -10%"))
        XCTAssertTrue(try runKeyScript("-1.00<Enter>", backend: b).contains("Enter a line first"))
    }
}

/// What a canned backend was sent, for checking after a script.
final class SentBox: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var items: [OrderItem]?
    func put(_ v: [OrderItem]) { lock.lock(); items = v; lock.unlock() }
    var value: [OrderItem]? { lock.lock(); defer { lock.unlock() }; return items }
}

final class SignOutScreenTests: XCTestCase {
    func testF9SignsOutOnAnEmptySaleOnly() throws {
        let b = CannedBackend { command in
            guard case .signOut = command else { return [] }
            return [.signedOut(StaffView(staffId: "P1", name: "Ann", role: "cashier"))]
        }
        XCTAssertTrue(try runKeyScript("<F9>", backend: b).contains("Signed out: Ann."))
        XCTAssertTrue(try runKeyScript("5<Enter><F9>", backend: b).contains("Finish or void the current sale first"))
    }
}
