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
