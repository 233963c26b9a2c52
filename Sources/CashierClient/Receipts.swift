import CashierCore
import Foundation

/// How receipts are written to the sink: plain text, or ESC/POS bytes for a receipt printer.
public enum ReceiptFormat: String, Codable, Sendable {
    case text
    case escpos
}

/// Receipts of paid sales, as text and as ESC/POS printer bytes (pure: no I/O).
public enum Receipt {
    /// Characters per line of a 80 mm receipt printer in its default font.
    public static let width = 42

    /// The receipt as plain lines, `width` columns wide (ASCII columns; names may be wider in CJK).
    /// `copy`: a reprint, marked COPY above and below so it is never taken for the original. `offline`: a
    /// cash sale the service does not have yet, marked so. `cashier`: the name of who rang it up.
    public static func text(order: OrderView, store: StoreInfo?, copy: Bool = false, offline: Bool = false,
                            cashier: String? = nil) -> String {
        var lines: [String] = []
        if copy { lines.append(copyBanner) }
        if offline { lines.append(offlineBanner) }
        if let store {
            lines.append(store.merchantName)
            lines.append(store.storeName)
        }
        lines.append(String(repeating: "-", count: width))
        lines.append("Order \(order.orderNo.digits)")
        let zone = StoreTime(store: store)
        lines.append("Time  \(zone.display(ms: order.paidAt ?? order.updatedAt)) \(zone.identifier)")
        if let cashier { lines.append("Cashier \(cashier)") }
        lines.append(String(repeating: "-", count: width))
        let items = order.items.isEmpty
            ? [OrderItem(name: "Amount", quantity: 1, unitPrice: order.amount)]
            : order.items
        for item in items {
            lines.append(item.name)
            let detail = "  \(item.quantity) x \(Money(minorUnits: item.unitPrice).decimalString)"
            lines.append(columns(detail, Money(minorUnits: item.unitPrice * Int64(item.quantity)).decimalString))
            if let discount = item.discount, discount > 0 {
                lines.append(columns("  Discount", "-" + Money(minorUnits: discount).decimalString))
            }
        }
        lines.append(String(repeating: "-", count: width))
        lines.append(columns("TOTAL \(order.currency)", Money(minorUnits: order.amount).decimalString))
        if order.isCash {
            lines.append(columns("Cash", Money(minorUnits: order.cashGiven ?? order.amount).decimalString))
            lines.append(columns("Change", Money(minorUnits: order.change ?? 0).decimalString))
        }
        if order.refundedAmount > 0 {
            lines.append(columns("Refunded", Money(minorUnits: order.refundedAmount).decimalString))
        }
        lines.append("Status: \(order.status.rawValue.uppercased())\(order.isCash ? " (CASH)" : "")")
        if let txn = order.channelTxn { lines.append("Txn \(txn)") }
        if offline { lines.append(offlineBanner) }
        if copy { lines.append(copyBanner) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The line that marks a reprint.
    public static let copyBanner = columns("***", "COPY ***", centredIn: width)
    /// The line that marks a sale taken while the service could not be reached.
    public static let offlineBanner = columns("***", "OFFLINE - NOT YET SENT ***", centredIn: width)

    /// A shift's X or Z report as receipt lines, times in the store's zone.
    public static func shiftReport(_ r: ShiftReport, store: StoreInfo?) -> String {
        let zone = StoreTime(store: store)
        let money = { (v: Int64) in Money(minorUnits: v).decimalString }
        var lines: [String] = []
        if let store { lines += [store.merchantName, store.storeName] }
        lines.append(String(repeating: "=", count: width))
        lines.append(r.kind == "Z" ? "Z REPORT No. \(r.shift.zNumber.map(String.init) ?? "?")" : "X REPORT (running totals)")
        lines.append("Shift \(r.shift.shiftId)")
        lines.append("Opened \(zone.display(ms: r.shift.openedAt)) \(r.shift.openedBy.name)")
        if let closed = r.shift.closedAt { lines.append("Closed \(zone.display(ms: closed)) \(r.shift.closedBy?.name ?? "")") }
        lines.append("Printed \(zone.display(ms: r.generatedAt)) \(zone.identifier)")
        lines.append(String(repeating: "-", count: width))
        lines.append("SALES")
        for t in r.sales { lines.append(columns("  \(t.displayName) x\(t.count)", money(t.amount))) }
        lines.append(columns("  Total \(r.shift.currency)", money(r.salesTotal)))
        lines.append("REFUNDS")
        for t in r.refunds { lines.append(columns("  \(t.displayName) x\(t.count)", money(t.amount))) }
        lines.append(columns("  Total", money(r.refundsTotal)))
        lines.append(columns("Voids", String(r.voids)))
        lines.append(columns("Reversals", String(r.reversals)))
        lines.append(columns("Declined", String(r.declined)))
        if !r.unsettled.isEmpty { lines.append(columns("Not final yet", String(r.unsettled.count))) }
        if let missing = r.missingGroups, !missing.isEmpty { lines.append("INCOMPLETE: order groups \(missing.map(String.init).joined(separator: ", ")) unreadable") }
        lines.append(String(repeating: "-", count: width))
        lines.append(columns("Opening float", money(r.shift.openingFloat)))
        lines.append(columns("Cash expected", money(r.cashExpected)))
        if let counted = r.cashCounted { lines.append(columns("Cash counted", money(counted))) }
        if let diff = r.cashDifference { lines.append(columns("Difference", (diff > 0 ? "+" : "") + money(diff))) }
        lines.append(String(repeating: "=", count: width))
        return lines.joined(separator: "\n") + "\n"
    }

    /// ESC/POS: initialize (ESC @), for a cash sale the drawer kick (`drawerKick`), the text (UTF-8; set
    /// the printer to UTF-8 for non-ASCII names), the order number as a Code 128 barcode when given
    /// (`barcode(_:)`), feed four lines (ESC d 4), partial cut (GS V 66 0).
    public static func escpos(_ text: String, barcode: OrderNumber? = nil, openDrawer: Bool = false) -> [UInt8] {
        [0x1B, 0x40] + (openDrawer ? drawerKick : []) + Array(text.replacingOccurrences(of: "\r", with: "").utf8)
            + (barcode.map(Self.barcode) ?? []) + [0x1B, 0x64, 0x04, 0x1D, 0x56, 0x42, 0x00]
    }

    /// ESC p 0 25 250: a pulse on the drawer connector's pin 2, on for 50 ms (25 × 2 ms) and off for
    /// 500 ms (250 × 2 ms), the timing cash drawers are made for.
    public static let drawerKick: [UInt8] = [0x1B, 0x70, 0x00, 0x19, 0xFA]

    /// The order number as a Code 128 barcode, so a refund starts by scanning the receipt: centred
    /// (ESC a 1), digits printed below it (GS H 2), 80 dots high (GS h 80), modules 2 dots wide (GS w 2),
    /// then GS k 73 (function B: a length byte, then the data). The data starts in code set B with the
    /// first digit (the number has an odd count of digits) and switches to code set C ("{C") for the
    /// remaining 22, two digits per symbol: 16 symbols with start, check and stop, about 45 mm on an
    /// 80 mm printer's 8 dots per mm. Alignment goes back to left (ESC a 0) afterwards.
    public static func barcode(_ number: OrderNumber) -> [UInt8] {
        let digits = Array(number.digits.utf8).map { $0 - 0x30 }
        var data: [UInt8] = [0x7B, 0x42, digits[0] + 0x30, 0x7B, 0x43]
        var i = 1
        while i + 1 < digits.count {
            data.append(digits[i] * 10 + digits[i + 1])
            i += 2
        }
        if i < digits.count { data += [0x7B, 0x42, digits[i] + 0x30] }
        return [0x0A, 0x1B, 0x61, 0x01, 0x1D, 0x48, 0x02, 0x1D, 0x68, 80, 0x1D, 0x77, 0x02, 0x1D, 0x6B, 73, UInt8(data.count)]
            + data + [0x0A, 0x1B, 0x61, 0x00]
    }

    private static func columns(_ left: String, _ right: String) -> String {
        let gap = max(1, width - left.count - right.count)
        return left + String(repeating: " ", count: gap) + right
    }

    /// `left` and `right` with one space between, centred in `centredIn` columns.
    private static func columns(_ left: String, _ right: String, centredIn total: Int) -> String {
        let body = "\(left) \(right)"
        return String(repeating: " ", count: max(0, (total - body.count) / 2)) + body
    }
}
