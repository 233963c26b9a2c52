import XCTest
import CashierCore
@testable import CashierTUI

final class ScreenTests: XCTestCase {
    // MARK: Activation

    func activationBackend() -> CannedBackend {
        var status = CannedBackend.activeStatus
        status.store = nil
        status.deviceId = nil
        return CannedBackend(snapshot: status) { command in
            guard case .activate(let code) = command else { return [] }
            switch code {
            case "WDJB-MJHT": return [.activation(.success(Activation(deviceId: "DEV-0001", store: CannedBackend.store)))]
            case "USED": return [.activation(.failure(APIError(.activationCodeUsed)))]
            case "OLD": return [.activation(.failure(APIError(.activationCodeExpired)))]
            default: return [.activation(.failure(APIError(.activationCodeInvalid)))]
            }
        }
    }

    func testActivationMessagesAndStore() throws {
        let b = activationBackend()
        XCTAssertTrue(try runKeyScript("", backend: b).contains("Activation code: _"))
        XCTAssertTrue(try runKeyScript("nope<Enter>", backend: b).contains("Wrong code"))
        XCTAssertTrue(try runKeyScript("used<Enter>", backend: b).contains("already been used"))
        XCTAssertTrue(try runKeyScript("old<Enter>", backend: b).contains("has expired"))
        let done = try runKeyScript("wdjb-mjht<Enter>", backend: b)
        XCTAssertTrue(done.contains("Activated for store: Harbour Road (S001)"), done)
        XCTAssertTrue(done.contains("Device id: DEV-0001"))
        // q types into the code (activation codes use letters) instead of going back.
        XCTAssertTrue(try runKeyScript("wdjbq", backend: b).contains("Activation code: WDJBQ_"))
        let selling = try runKeyScript("wdjb-mjht<Enter><Enter>", backend: b)
        XCTAssertTrue(selling.contains("Cashier — Checkout"), selling)
    }

    // MARK: Checkout

    static let items = ["6901234567892": OrderItem(sku: "6901234567892", name: "可口可乐 500ml", quantity: 1, unitPrice: 350),
                        "111": OrderItem(sku: "111", name: "Bread", quantity: 1, unitPrice: 1200)]
    static let code = "994567890123456789"

    func testCheckoutRunningTotalAndChineseItemAlignsInColumns() throws {
        let b = CannedBackend(items: Self.items)
        let text = try runKeyScript("6901234567892*3<Enter>111<Enter>0.5<Enter>", backend: b)
        XCTAssertTrue(text.contains("TOTAL"))
        XCTAssertTrue(text.contains("23.00 CNY"), text)   // 3 × 3.50 + 12.00 + 0.50
        let lines = text.split(separator: "\n").map(String.init)
        let cola = try XCTUnwrap(lines.first { $0.contains("可口可乐") })
        let bread = try XCTUnwrap(lines.first { $0.contains("Bread") })
        // The amounts end in the same display column although the Chinese name is wider in bytes and characters.
        XCTAssertEqual(DisplayWidth.of(cola), DisplayWidth.of(bread))
        XCTAssertTrue(cola.hasSuffix("10.50") && bread.hasSuffix("12.00"))
        let bad = try runKeyScript("999*2<Enter>", backend: b)
        XCTAssertTrue(bad.contains("Unknown item code 999."), bad)
    }

    /// A barcode scanned into the line field is an item code or nothing: a payment code or a receipt's order
    /// number scanned there never becomes an amount. The same digits typed by hand are an amount.
    func testAScanIntoTheLineFieldIsAnItemNeverAnAmount() throws {
        let b = CannedBackend(items: Self.items)
        let item = try runKeyScript("<Scan:6901234567892>", backend: b)
        XCTAssertTrue(item.contains("可口可乐") && item.contains("3.50 CNY"), item)
        let code = try runKeyScript("<Scan:1234>", backend: b)
        XCTAssertTrue(code.contains("1234 was scanned and is not an item code; type amounts by hand."), code)
        XCTAssertTrue(code.contains("0.00 CNY"), "nothing was added: \(code)")
        let typed = try runKeyScript("1234<Enter>", backend: b)
        XCTAssertTrue(typed.contains("1234.00 CNY"), typed)
        // At the payment code prompt a scan is what is expected.
        let paying = CannedBackend(items: Self.items) { _ in [] }
        let prompt = try runKeyScript("5<Enter><Enter><Scan:994567890123456789>", backend: paying)
        XCTAssertFalse(prompt.contains("was scanned"), prompt)
    }

    func testPaymentProgressCountsDownAndCannotBeLeft() throws {
        let n = CannedBackend.orderNumber(1)
        let b = CannedBackend { command in
            guard case .startSale(let sale) = command, sale.amount == 1250, sale.paymentCode == Self.code else { return [] }
            return [.sale(.creating, secondsLeft: nil), .sale(.waitingForCustomer(n), secondsLeft: 30)]
        }
        let waiting = try runKeyScript("12.50<Enter><Enter>\(Self.code)<Enter><Wait:7>", backend: b)
        XCTAssertTrue(waiting.contains("Waiting for the customer to confirm… 23 s"), waiting)
        XCTAssertTrue(waiting.contains("PAYING 12.50 CNY"))
        let stuck = try runKeyScript("12.50<Enter><Enter>\(Self.code)<Enter><Esc>q<F10><F2>", backend: b)
        XCTAssertTrue(stuck.contains("A payment is in progress and cannot be left"), stuck)
        XCTAssertTrue(stuck.contains("Waiting for the customer to confirm… 30 s"))
    }

    func testPaymentResultsAreUnmistakableWithReceipt() throws {
        let n = CannedBackend.orderNumber(2)
        let item = OrderItem(sku: "111", name: "Bread", quantity: 1, unitPrice: 1200)
        func backend(_ outcome: SaleOutcome) -> CannedBackend {
            CannedBackend(items: Self.items) { command in
                guard case .startSale = command else { return [] }
                return [.sale(.paying(n), secondsLeft: 45), .sale(.finished(outcome), secondsLeft: nil)]
            }
        }
        let paid = try runKeyScript("111<Enter><Enter>\(Self.code)<Enter>",
                                    backend: backend(.paid(CannedBackend.order(n, amount: 1200, status: .paid, items: [item]))))
        XCTAssertTrue(paid.contains("PAID  12.00 CNY"), paid)
        XCTAssertTrue(paid.contains("Order: \(n.digits)"))
        XCTAssertTrue(paid.contains("Channel transaction: TXN42"))
        XCTAssertTrue(paid.contains("Acme Foods · Harbour Road"))

        let declined = try runKeyScript("111<Enter><Enter>\(Self.code)<Enter>", backend: backend(.declined(reason: "INSUFFICIENT_FUNDS")))
        XCTAssertTrue(declined.contains("DECLINED — Insufficient funds (INSUFFICIENT_FUNDS)"), declined)

        let reversed = try runKeyScript("111<Enter><Enter>\(Self.code)<Enter>",
            backend: backend(.notPaid(reversed: true, reason: "deadline passed")))
        XCTAssertTrue(reversed.contains("NOT PAID — the payment was reversed"), reversed)

        // After a decline, Enter goes back to scanning with the lines kept; after PAID, a new sale starts.
        let again = try runKeyScript("111<Enter><Enter>\(Self.code)<Enter><Enter>",
            backend: backend(.declined(reason: "CODE_USED")))
        XCTAssertTrue(again.contains("Scan payment code for 12.00 CNY"), again)
        let next = try runKeyScript("111<Enter><Enter>\(Self.code)<Enter><Enter>",
            backend: backend(.paid(CannedBackend.order(n, amount: 1200, status: .paid, items: [item]))))
        XCTAssertTrue(next.contains("0.00 CNY") && !next.contains("Bread"), next)
    }

    // MARK: Refund

    func refundBackend() -> CannedBackend {
        let n = CannedBackend.orderNumber(3)
        return CannedBackend { command in
            switch command {
            case .lookupOrder(let no) where no == n:
                return [.order(.success(CannedBackend.order(n, amount: 10000, status: .paid, refunded: 2000)))]
            case .lookupOrder:
                return [.order(.failure(APIError(.orderNotFound)))]
            case .refund(_, let amount, let pin, let ref):
                guard pin == "424242", !ref.isEmpty else { return [.refund(.failure(APIError(.pinInvalid)))] }
                return [.refund(.success(RefundView(refundNo: RefundNumber(epochSeconds: 1_764_000_100, instance: 7, sequence: 9, group: GroupTag(2)!),
                                                    orderNo: n, amount: amount, currency: "CNY", refundRef: ref,
                                                    status: .succeeded, createdAt: 1_764_000_100_000)))]
            default:
                return []
            }
        }
    }

    func testRefundShowsOrderMasksPinAndConfirms() throws {
        let n = CannedBackend.orderNumber(3)
        let b = refundBackend()
        let looked = try runKeyScript("r\(n.digits)<Enter>", backend: b)
        XCTAssertTrue(looked.contains("Refundable: 80.00 CNY"), looked)
        XCTAssertTrue(looked.contains("Status: PAID"))
        let masked = try runKeyScript("r\(n.digits)<Enter>30<Enter>424242", backend: b)
        XCTAssertTrue(masked.contains("Supervisor PIN: ******_"), masked)
        XCTAssertFalse(masked.contains("424242"))
        let tooMuch = try runKeyScript("r\(n.digits)<Enter>90<Enter>", backend: b)
        XCTAssertTrue(tooMuch.contains("At most 80.00 CNY can be refunded."), tooMuch)
        let confirm = try runKeyScript("r\(n.digits)<Enter>30<Enter>424242<Enter>", backend: b)
        XCTAssertTrue(confirm.contains("Refund 30.00 CNY of order \(n.digits)?"), confirm)
        let done = try runKeyScript("r\(n.digits)<Enter>30<Enter>424242<Enter><Enter>", backend: b)
        XCTAssertTrue(done.contains("REFUNDED 30.00 CNY"), done)
        XCTAssertFalse(done.contains("424242"))
        let wrongPin = try runKeyScript("r\(n.digits)<Enter>30<Enter>1111<Enter><Enter>", backend: b)
        XCTAssertTrue(wrongPin.contains("The PIN is wrong."), wrongPin)
        XCTAssertTrue(wrongPin.contains("Supervisor PIN: _"))
        let badNumber = try runKeyScript("r12345<Enter>", backend: b)
        XCTAssertTrue(badNumber.contains("not a valid order number"), badNumber)
        let back = try runKeyScript("r<Esc>", backend: b)
        XCTAssertTrue(back.contains("Cashier — Checkout"), back)
    }

    // MARK: Orders

    func testOrdersPagingAndDetail() throws {
        let all = (0..<20).map { i in
            OrderSummary(orderNo: CannedBackend.orderNumber(100 - i), amount: Int64(100 * (i + 1)), currency: "CNY",
                         status: .paid, refundedAmount: 0, createdAt: 1_764_000_000_000 - Int64(i) * 60_000, deviceId: "DEV-0001")
        }
        let b = CannedBackend { command in
            switch command {
            case .listOrders(let cursor, let limit):
                let start = cursor.flatMap(Int.init) ?? 0
                let page = Array(all[start..<min(all.count, start + limit)])
                let next = start + limit < all.count ? String(start + limit) : nil
                return [.orderList(.success(OrderListResponse(orders: page, nextCursor: next, unavailableGroups: [])))]
            case .lookupOrder(let n):
                return [.order(.success(CannedBackend.order(n, amount: 300, status: .paid)))]
            default:
                return []
            }
        }
        let first = try runKeyScript("o", backend: b)
        XCTAssertTrue(first.contains(all[0].orderNo.digits) && first.contains("Page 1"), first)
        XCTAssertFalse(first.contains(all[14].orderNo.digits))
        let second = try runKeyScript("on", backend: b)
        XCTAssertTrue(second.contains(all[14].orderNo.digits) && second.contains("Page 2") && second.contains("last page"), second)
        XCTAssertFalse(second.contains(all[0].orderNo.digits))
        XCTAssertTrue(try runKeyScript("onn", backend: b).contains("This is the last page."))
        XCTAssertTrue(try runKeyScript("onp", backend: b).contains(all[0].orderNo.digits))
        let detail = try runKeyScript("oj<Down><Enter>", backend: b)
        XCTAssertTrue(detail.contains("Cashier — Order") && detail.contains("Order: \(all[2].orderNo.digits)"), detail)
        let refund = try runKeyScript("o<Enter>r", backend: b)
        XCTAssertTrue(refund.contains("Refundable: 3.00 CNY"), refund)
        XCTAssertTrue(try runKeyScript("o<Enter>qq", backend: b).contains("Cashier — Checkout"))
    }

    // MARK: Frame

    func testHelpOverlayListsTheKeyTableBindings() throws {
        let text = try runKeyScript("<F1>", backend: CannedBackend())
        for entry in KeyTable.standard.requests(in: .checkout) {
            XCTAssertTrue(text.contains(Strings(language: .english)[entry.request.descriptionKey]), "\(entry.request) missing:\n\(text)")
        }
        XCTAssertTrue(text.contains("F2, r") && text.contains("Void the current sale") && text.contains("Quit the cashier"), text)
        XCTAssertFalse(try runKeyScript("<F1><Esc>", backend: CannedBackend()).contains("Void the current sale"))
        // On activation `q` types into the code, so help lists only Esc for going back.
        var unactivated = CannedBackend.activeStatus
        unactivated.store = nil
        let activation = try runKeyScript("<F1>", backend: CannedBackend(snapshot: unactivated))
        XCTAssertTrue(activation.contains("  Esc  ") || activation.contains("Esc           "), activation)
        XCTAssertFalse(activation.contains("Esc, q"), activation)
        let orders = try runKeyScript("o?", backend: CannedBackend())
        XCTAssertTrue(orders.contains("Up, k") && orders.contains("Next page"), orders)
    }

    func testStatusBarShowsDomainsAndUnreachableWarning() throws {
        let ok = try runKeyScript("", backend: CannedBackend())
        let last = ok.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.contains("● pay-a.example.com 23ms") && last.contains("pay-b.example.com standby")
                      && last.contains("DEV-0001") && last.hasSuffix("Harbour Road"), last)
        var status = CannedBackend.activeStatus
        status.domains = [DomainStatus(name: "pay-a.example.com", state: .probing), DomainStatus(name: "pay-b.example.com", state: .down)]
        let down = try runKeyScript("", backend: CannedBackend(snapshot: status))
        XCTAssertTrue(down.contains("⚠ SERVICE UNREACHABLE — probing"), down)
    }

    func testStatusBarTellsABusyServiceFromAnUnreachableOne() throws {
        var status = CannedBackend.activeStatus
        status.domains = [DomainStatus(name: "pay-a.example.com", state: .busy), DomainStatus(name: "pay-b.example.com", state: .down)]
        let busy = try runKeyScript("", backend: CannedBackend(snapshot: status))
        XCTAssertTrue(busy.contains("⚠ SERVICE BUSY — sales wait for room") && busy.contains("… busy │"), busy)
        XCTAssertFalse(busy.contains("UNREACHABLE"), busy)
        status.domains[0].state = .down
        XCTAssertTrue(try runKeyScript("", backend: CannedBackend(snapshot: status)).contains("⚠ SERVICE UNREACHABLE"))
    }

    func testStatusBarAsksForAClockTheServiceHadToCorrect() throws {
        var status = CannedBackend.activeStatus
        status.clockOffsetMs = -7_200_300
        let ahead = try runKeyScript("", backend: CannedBackend(snapshot: status))
        let last = ahead.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.contains("⏱ clock 7200 s ahead") && last.contains("DEV-0001"), last)
        XCTAssertLessThanOrEqual(DisplayWidth.of(last), 80)
        status.clockOffsetMs = 3_600_000
        let behind = try runKeyScript("", backend: CannedBackend(snapshot: status), language: .chinese)
        let bar = behind.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(bar.contains("⏱ 时钟慢 3600 秒"), bar)
        XCTAssertFalse(try runKeyScript("", backend: CannedBackend()).contains("⏱"), "nothing when the clocks agree")
    }

    func testSmallTerminalShowsAMessage() throws {
        let small = try runKeyScript("", backend: CannedBackend(), rows: 23, columns: 79)
        XCTAssertTrue(small.contains("The terminal is too small"), small)
        XCTAssertTrue(small.contains("It is 79×23; enlarge it to at least 80×24."))
        XCTAssertFalse(small.contains("TOTAL"))
        XCTAssertTrue(try runKeyScript("", backend: CannedBackend(), rows: 24, columns: 80).contains("TOTAL"))
    }

    func testChineseScreens() throws {
        let text = try runKeyScript("12<Enter>", backend: CannedBackend(), language: .chinese)
        XCTAssertTrue(text.contains("收银台 — 收款") && text.contains("合计"), text)
        // No line is wider than the terminal, wide characters included.
        for line in text.split(separator: "\n") { XCTAssertLessThanOrEqual(DisplayWidth.of(String(line)), 80) }
        let waiting = try runKeyScript("12<Enter><Enter>\(Self.code)<Enter><Wait:5>", backend: CannedBackend { c in
            guard case .startSale = c else { return [] }
            return [.sale(.waitingForCustomer(CannedBackend.orderNumber(5)), secondsLeft: 45)]
        }, language: .chinese)
        XCTAssertTrue(waiting.contains("等待顾客确认支付… 40 秒"), waiting)
    }
}
