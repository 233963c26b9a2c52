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
    public static func text(order: OrderView, store: StoreInfo?) -> String {
        var lines: [String] = []
        if let store {
            lines.append(store.merchantName)
            lines.append(store.storeName)
        }
        lines.append(String(repeating: "-", count: width))
        lines.append("Order \(order.orderNo.digits)")
        lines.append("Time  \(CivilTime(epochSeconds: (order.paidAt ?? order.updatedAt) / 1000).display) UTC")
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
        return lines.joined(separator: "\n") + "\n"
    }

    /// ESC/POS: initialize (ESC @), the text (UTF-8; set the printer to UTF-8 for non-ASCII names),
    /// feed four lines (ESC d 4), partial cut (GS V 66 0).
    public static func escpos(_ text: String) -> [UInt8] {
        [0x1B, 0x40] + Array(text.replacingOccurrences(of: "\r", with: "").utf8) + [0x1B, 0x64, 0x04, 0x1D, 0x56, 0x42, 0x00]
    }

    private static func columns(_ left: String, _ right: String) -> String {
        let gap = max(1, width - left.count - right.count)
        return left + String(repeating: " ", count: gap) + right
    }
}
