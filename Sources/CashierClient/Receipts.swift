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
    /// `copy`: a reprint, marked COPY above and below so it is never taken for the original.
    public static func text(order: OrderView, store: StoreInfo?, copy: Bool = false) -> String {
        var lines: [String] = []
        if copy { lines.append(copyBanner) }
        if let store {
            lines.append(store.merchantName)
            lines.append(store.storeName)
        }
        lines.append(String(repeating: "-", count: width))
        lines.append("Order \(order.orderNo.digits)")
        let zone = StoreTime(store: store)
        lines.append("Time  \(zone.display(ms: order.paidAt ?? order.updatedAt)) \(zone.identifier)")
        lines.append(String(repeating: "-", count: width))
        let items = order.items.isEmpty
            ? [OrderItem(name: "Amount", quantity: 1, unitPrice: order.amount)]
            : order.items
        for item in items {
            lines.append(item.name)
            let detail = "  \(item.quantity) x \(Money(minorUnits: item.unitPrice).decimalString)"
            lines.append(columns(detail, Money(minorUnits: item.unitPrice * Int64(item.quantity)).decimalString))
        }
        lines.append(String(repeating: "-", count: width))
        lines.append(columns("TOTAL \(order.currency)", Money(minorUnits: order.amount).decimalString))
        if order.refundedAmount > 0 {
            lines.append(columns("Refunded", Money(minorUnits: order.refundedAmount).decimalString))
        }
        lines.append("Status: \(order.status.rawValue.uppercased())")
        if let txn = order.channelTxn { lines.append("Txn \(txn)") }
        if copy { lines.append(copyBanner) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The line that marks a reprint.
    public static let copyBanner = columns("***", "COPY ***", centredIn: width)

    /// ESC/POS: initialize (ESC @), the text (UTF-8; set the printer to UTF-8 for non-ASCII names), the
    /// order number as a Code 128 barcode when given (`barcode(_:)`), feed four lines (ESC d 4), partial
    /// cut (GS V 66 0).
    public static func escpos(_ text: String, barcode: OrderNumber? = nil) -> [UInt8] {
        [0x1B, 0x40] + Array(text.replacingOccurrences(of: "\r", with: "").utf8)
            + (barcode.map(Self.barcode) ?? []) + [0x1B, 0x64, 0x04, 0x1D, 0x56, 0x42, 0x00]
    }

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
