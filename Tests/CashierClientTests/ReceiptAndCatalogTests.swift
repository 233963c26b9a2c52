import CashierClient
import CashierCore
import Foundation
import TestSupport
import XCTest

/// Receipts written to the sink (text and ESC/POS) and checkout lines named by catalogue code.
final class ReceiptAndCatalogTests: XCTestCase {
    func testReceiptTextAndESCPOSBytes() {
        let order = OrderView(orderNo: OrderNumber("26112509464000700042137")!, storeId: "S1", deviceId: "D1", amount: 1000,
                              currency: "CNY", status: .paid,
                              items: [OrderItem(sku: "1001", name: "Oolong tea", quantity: 2, unitPrice: 350),
                                      OrderItem(sku: "1002", name: "Bun", quantity: 1, unitPrice: 300)],
                              createdAt: 1_795_600_000_000, updatedAt: 1_795_600_000_000, paidAt: 1_795_600_000_000, channelTxn: "SBX1")
        let text = Receipt.text(order: order, store: StoreInfo(storeId: "S1", storeName: "Demo Store", merchantId: "M1",
                                                               merchantName: "Demo Merchant", currency: "CNY"))
        XCTAssertTrue(text.contains("Order 26112509464000700042137"))
        XCTAssertTrue(text.contains("Time  2026-11-25 09:46:40 UTC"))
        XCTAssertTrue(text.contains("  2 x 3.50"))
        XCTAssertTrue(text.contains("TOTAL CNY"))
        for line in text.split(separator: "\n") { XCTAssertLessThanOrEqual(line.count, Receipt.width, String(line)) }
        let bytes = Receipt.escpos(text)
        XCTAssertEqual(Array(bytes.prefix(2)), [0x1B, 0x40], "ESC @ initializes the printer")
        XCTAssertEqual(Array(bytes.suffix(7)), [0x1B, 0x64, 0x04, 0x1D, 0x56, 0x42, 0x00], "feed, then partial cut")
    }

    func testCopyIsMarkedAndTheOrderNumberIsACode128Barcode() throws {
        let number = try XCTUnwrap(OrderNumber("26112509464000700042137"))
        let order = OrderView(orderNo: number, storeId: "S1", deviceId: "D1", amount: 100, currency: "CNY", status: .paid,
                              createdAt: 1_795_600_000_000, updatedAt: 1_795_600_000_000, paidAt: 1_795_600_000_000)
        let original = Receipt.text(order: order, store: nil)
        let copy = Receipt.text(order: order, store: nil, copy: true)
        XCTAssertFalse(original.contains("COPY"))
        let copyLines = copy.split(separator: "\n").map(String.init)
        XCTAssertEqual(copyLines.first?.trimmingCharacters(in: .whitespaces), "*** COPY ***")
        XCTAssertEqual(copyLines.last?.trimmingCharacters(in: .whitespaces), "*** COPY ***")
        for line in copyLines { XCTAssertLessThanOrEqual(line.count, Receipt.width, line) }

        // GS k 73 (Code 128), 16 data bytes: "{B" and the first digit, then "{C" and the 22 other digits in pairs.
        let expected: [UInt8] = [0x0A, 0x1B, 0x61, 0x01, 0x1D, 0x48, 0x02, 0x1D, 0x68, 80, 0x1D, 0x77, 0x02,
                                 0x1D, 0x6B, 73, 16, 0x7B, 0x42, 0x32, 0x7B, 0x43,
                                 61, 12, 50, 94, 64, 0, 7, 0, 4, 21, 37,
                                 0x0A, 0x1B, 0x61, 0x00]
        XCTAssertEqual(Receipt.barcode(number), expected)
        let bytes = Receipt.escpos(original, barcode: number)
        XCTAssertEqual(Array(bytes.prefix(2)), [0x1B, 0x40])
        XCTAssertEqual(Array(bytes.suffix(7)), [0x1B, 0x64, 0x04, 0x1D, 0x56, 0x42, 0x00], "the cut comes after the barcode")
        XCTAssertNotNil(bytes.firstRange(of: expected), "the barcode is in the printed bytes")
    }

    /// A reprint (last receipt, or any order's) is marked COPY; a printer that fails never unpays a sale.
    func testReprintAndAFailingPrinter() throws {
        let service = try Cashierd()
        defer { service.stop() }
        let dir = try TemporaryDirectory(prefix: "reprint")
        let printer = dir.file("receipts.txt")
        let harness = try ClientHarness(domains: service.urls, caFile: service.caFile) { $0.receiptSink = printer }
        try harness.activate(service)
        let none = try harness.runJSON(["receipt"])
        XCTAssertEqual(none.status, 2, none.raw.stdout)
        XCTAssertTrue((none.json["detail"] as? String ?? "").contains("no receipt has been printed"), none.raw.stdout)

        let first = try harness.runJSON(["pay", "--amount", "3.00", "--code", paymentCode(.paid)])
        XCTAssertEqual(first.status, 0, first.raw.stdout)
        XCTAssertEqual(first.json["receipt"] as? String, "printed")
        let firstNo = try XCTUnwrap(first.json["order_no"] as? String)
        let second = try harness.runJSON(["pay", "--amount", "4.00", "--code", paymentCode(.paid)])
        let secondNo = try XCTUnwrap(second.json["order_no"] as? String)

        let last = try harness.runJSON(["receipt"])
        XCTAssertEqual(last.status, 0, last.raw.stdout)
        XCTAssertEqual(last.json["order_no"] as? String, secondNo, "with no number: the last receipt printed")
        let byNumber = try harness.run(["receipt", firstNo])
        XCTAssertEqual(byNumber.status, 0, byNumber.stderr)
        XCTAssertTrue(byNumber.stdout.contains("printed again (COPY)"), byNumber.stdout)
        let printed = try String(contentsOfFile: printer, encoding: .utf8)
        let receipts = printed.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        XCTAssertEqual(receipts.count, 4, printed)
        XCTAssertFalse(receipts[0].contains("COPY"))
        XCTAssertTrue(receipts[2].contains("COPY") && receipts[2].contains(secondNo), receipts[2])
        XCTAssertTrue(receipts[3].contains("COPY") && receipts[3].contains(firstNo), receipts[3])

        // The printer goes away (a directory where the file was: it cannot be opened for writing).
        try FileManager.default.removeItem(atPath: printer)
        try FileManager.default.createDirectory(atPath: printer, withIntermediateDirectories: false)
        let unprinted = try harness.run(["pay", "--amount", "5.00", "--code", paymentCode(.paid)])
        XCTAssertEqual(unprinted.status, 0, "still paid: \(unprinted.stdout)")
        XCTAssertTrue(unprinted.stdout.contains("PAID"), unprinted.stdout)
        XCTAssertTrue(unprinted.stdout.contains("receipt was NOT printed"), unprinted.stdout)
        let failedReprint = try harness.runJSON(["receipt", firstNo])
        XCTAssertEqual(failedReprint.status, 7, failedReprint.raw.stdout)
        XCTAssertEqual(failedReprint.json["receipt"] as? String, "failed")

        // Headless: the same reprint command.
        try FileManager.default.removeItem(atPath: printer)
        let session = try harness.run(["--headless"], stdin: #"{"cmd":"receipt","id":"r","order":"\#(firstNo)"}"# + "\n")
        XCTAssertTrue(session.stdout.contains(#""receipt":"printed""#), session.stdout)
        XCTAssertTrue(try String(contentsOfFile: printer, encoding: .utf8).contains("COPY"))
    }

    /// A store's time zone, set on the running service, reaches an activated terminal with its next probe:
    /// its receipts and order list read local time, while the wire keeps UTC milliseconds.
    func testTheStoresTimeZoneReachesTheTerminalsReceipts() throws {
        let service = try Cashierd()
        defer { service.stop() }
        let dir = try TemporaryDirectory(prefix: "zone")
        let printer = dir.file("receipts.txt")
        let harness = try ClientHarness(domains: service.urls, caFile: service.caFile) { $0.receiptSink = printer }
        try harness.activate(service)
        func store() throws -> [String: Any] {
            let status = try harness.runJSON(["status"])
            let top = (status.json["status"] as? [String: Any]) ?? status.json
            return try XCTUnwrap(top["store"] as? [String: Any], status.raw.stdout)
        }
        let storeID = try XCTUnwrap(try store()["store_id"] as? String)
        XCTAssertNil(try store()["time_zone"] as? String == "Asia/Shanghai" ? "set already" : nil)

        let bad = try service.admin(["store", "set", "--store", storeID, "--time-zone", "Mars/Olympus_Mons"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("is not a time zone"), bad.stderr)
        let set = try service.admin(["store", "set", "--store", storeID, "--time-zone", "Asia/Shanghai"])
        XCTAssertEqual(set.status, 0, set.stderr)
        let listed = try service.admin(["store", "list", "--json"])
        let stores = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any])?["stores"] as? [[String: Any]])
        XCTAssertEqual(stores.first { $0["id"] as? String == storeID }?["time_zone"] as? String, "Asia/Shanghai", listed.stdout)

        let sale = try harness.runJSON(["pay", "--amount", "1.00", "--code", paymentCode(.paid)])
        XCTAssertEqual(sale.status, 0, sale.raw.stdout)
        let order = try XCTUnwrap(sale.json["order"] as? [String: Any])
        let paidAt = try XCTUnwrap((order["paid_at"] as? NSNumber)?.int64Value)
        let local = try XCTUnwrap(StoreTime(identifier: "Asia/Shanghai")).display(ms: paidAt)
        let receipt = try String(contentsOfFile: printer, encoding: .utf8)
        XCTAssertTrue(receipt.contains("Time  \(local) Asia/Shanghai"), "want \(local) Asia/Shanghai in\n\(receipt)")
        XCTAssertNotEqual(local, StoreTime.utc.display(ms: paidAt))
        XCTAssertEqual(try store()["time_zone"] as? String, "Asia/Shanghai", "the keystore keeps the store as the service now has it")
    }

    func testPaidSalesPrintToTheSinkAndCatalogueCodesBecomeItems() throws {
        let service = try Cashierd()
        defer { service.stop() }
        let dir = try TemporaryDirectory(prefix: "catalog")
        let catalog = dir.file("catalog.json")
        try Data(#"[{"sku": "1001", "name": "乌龙茶 Oolong", "unit_price": 350}, {"sku": "1002", "name": "Bun", "unit_price": 300}]"#.utf8)
            .write(to: URL(fileURLWithPath: catalog))
        let printer = dir.file("printer.bin")
        let harness = try ClientHarness(domains: service.urls, caFile: service.caFile) {
            $0.receiptSink = printer
            $0.receiptFormat = .escpos
            $0.catalogPath = catalog
        }
        try harness.activate(service)
        // Two oolong teas and a bun, typed as item codes on the checkout screen, then paid.
        let screen = try harness.run(["--script", "1001*2<Enter>1002<Enter><Enter>994567890123456780<Enter>", "--dump-screen"])
        XCTAssertEqual(screen.status, 0, screen.stderr)
        XCTAssertTrue(screen.stdout.contains("PAID  10.00 CNY"), screen.stdout)
        XCTAssertTrue(screen.stdout.contains("乌龙茶 Oolong"), screen.stdout)
        let printed = try [UInt8](Data(contentsOf: URL(fileURLWithPath: printer)))
        XCTAssertEqual(Array(printed.prefix(2)), [0x1B, 0x40])
        let text = String(decoding: printed, as: UTF8.self)
        XCTAssertTrue(text.contains("乌龙茶 Oolong"))
        XCTAssertTrue(text.contains("TOTAL CNY") && text.contains("10.00"))
        // The order on the service has the items too.
        let orders = try harness.runJSON(["orders"])
        XCTAssertEqual(orders.status, 0)

        // A broken catalogue stops the client with a clear configuration error.
        try Data("not json".utf8).write(to: URL(fileURLWithPath: catalog))
        let bad = try harness.run(["status"])
        XCTAssertEqual(bad.status, 8)
        XCTAssertTrue((bad.stdout + bad.stderr).contains("catalogue"), bad.stdout + bad.stderr)
    }
}
