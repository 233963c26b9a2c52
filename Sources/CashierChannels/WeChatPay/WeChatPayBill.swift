import Foundation

/// The day's bill `pay/downloadbill` answers with (bill_type ALL): plain text, not XML and not signed.
///
/// Its first line names the columns; every data line and the totals line write each field with a leading
/// backtick (`` ` ``), fields joined by commas; after the data lines come a line naming the totals
/// (starting 总交易单数, the number of lines) and the totals. Columns are found by their names, so the
/// older and newer layouts both read. Amounts are yuan with two decimals; times are Beijing time.
/// Pure. Anything that does not add up (a missing column, a short line, a totals line whose count differs
/// from the lines read, another merchant's line) makes the whole bill unverified: a truncated or foreign
/// bill must not pass for a short one.
public enum WeChatPayBill {
    /// A bill larger than this is refused.
    public static let maxBytes = 32 * 1024 * 1024

    static let columnTime = "交易时间"
    static let columnAppID = "公众账号ID"
    static let columnMerchant = "商户号"
    static let columnTransaction = "微信订单号"
    static let columnOutTradeNo = "商户订单号"
    static let columnState = "交易状态"
    static let columnOrderAmount = "订单金额"
    static let columnSettledAmounts = ["应结订单金额", "总金额"]
    static let columnRefundID = "微信退款单号"
    static let columnRefundNo = "商户退款单号"
    static let columnRefundAmount = "退款金额"
    static let columnRefundAsked = "申请退款金额"
    static let columnRefundState = "退款状态"
    static let totalsTitle = "总交易单数"

    public static func parse(_ text: String, merchant: WeChatPayAnswers.Merchant) throws(ChannelError) -> [StatementLine] {
        func unverified(_ why: String) -> ChannelError { ChannelError(.unverifiedAnswer, "WeChat Pay bill: \(why)") }
        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }
        let lines = body.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).filter { !$0.allSatisfy(\.isWhitespace) }
        guard let headerLine = lines.first else { throw unverified("empty") }
        let header = headerLine.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingSpaces() }
        var index: [String: Int] = [:]
        for (i, name) in header.enumerated() where index[name] == nil { index[name] = i }
        func column(_ name: String) throws(ChannelError) -> Int {
            guard let i = index[name] else { throw unverified("no column \(name)") }
            return i
        }
        let time = try column(columnTime), appID = try column(columnAppID), mchID = try column(columnMerchant)
        let txn = try column(columnTransaction), outTradeNo = try column(columnOutTradeNo), state = try column(columnState)
        let refundID = try column(columnRefundID), refundNo = try column(columnRefundNo)
        let refundAmount = try column(columnRefundAmount), refundState = try column(columnRefundState)
        guard let settled = columnSettledAmounts.lazy.compactMap({ index[$0] }).first else { throw unverified("no amount column") }
        let orderAmount = index[columnOrderAmount], refundAsked = index[columnRefundAsked]

        guard let totalsAt = lines.firstIndex(where: { $0.trimmingPrefix("\u{FEFF}").hasPrefix(totalsTitle) }),
              totalsAt + 1 < lines.count else {
            throw unverified("no totals (the bill is cut short)")
        }
        let totals = try fields(of: lines[totalsAt + 1])
        guard let declared = totals.first.flatMap({ Int($0) }), declared == totalsAt - 1 else {
            throw unverified("the totals count \(totals.first ?? "nothing") lines, the bill has \(totalsAt - 1)")
        }

        var out: [StatementLine] = []
        for line in lines[1..<totalsAt] {
            let f = try fields(of: line)
            guard f.count == header.count else { throw unverified("a line has \(f.count) fields, the header \(header.count)") }
            guard f[appID] == merchant.appID, f[mchID] == merchant.merchantID else {
                throw unverified("a line names another appid or mch_id")
            }
            guard let at = beijingTimeMs(f[time]) else { throw unverified("an unreadable time \(f[time])") }
            switch f[state] {
            case "SUCCESS":
                let amount = try yuan(orderAmount.map { f[$0] } ?? f[settled])
                out.append(StatementLine(kind: .payment, outTradeNo: f[outTradeNo], amount: amount, providerID: f[txn], time: at))
            case "REFUND":
                // Refunds under way or done; a failed or closed one returned nothing.
                guard f[refundState] == "SUCCESS" || f[refundState] == "PROCESSING" else { continue }
                let asked = try refundAsked.flatMap { f[$0].isEmpty ? nil : f[$0] }.map(yuanOrZero) ?? 0
                let amount = asked > 0 ? asked : try yuan(f[refundAmount])
                out.append(StatementLine(kind: .refund, outTradeNo: f[outTradeNo], refundNo: f[refundNo], amount: amount,
                                         providerID: f[refundID], time: at))
            case "REVOKED":
                // A reversed payment whose money was returned: a refund under no refund number of ours.
                let returned = try yuan(f[refundAmount])
                let asked = try refundAsked.flatMap { f[$0].isEmpty ? nil : f[$0] }.map(yuanOrZero) ?? 0
                let amount = max(returned, asked)
                guard amount > 0 else { continue }
                let id = f[refundID].isEmpty || f[refundID] == "0" ? f[txn] : f[refundID]
                out.append(StatementLine(kind: .refund, outTradeNo: f[outTradeNo], refundNo: nil, amount: amount, providerID: id, time: at))
            default:
                continue
            }
        }
        return out
    }

    /// The fields of a data or totals line: each written with a leading backtick, joined by commas.
    static func fields(of line: Substring) throws(ChannelError) -> [String] {
        var rest = line.trimmingSpacesSubstring()
        guard rest.hasPrefix("`") else { throw ChannelError(.unverifiedAnswer, "WeChat Pay bill: a line without the backtick prefix") }
        rest = rest.dropFirst()
        return rest.components(separatedBy: ",`").map { $0.trimmingSpaces() }
    }

    /// `yuan`, for an optional column.
    static func yuanOrZero(_ text: String) throws(ChannelError) -> Int64 { try yuan(text) }

    /// "12.34" yuan → 1234 fen.
    static func yuan(_ text: String) throws(ChannelError) -> Int64 {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = Int64(parts[0]), whole >= 0, parts[0].allSatisfy(\.isASCII),
              whole < 1_000_000_000_000 else {
            throw ChannelError(.unverifiedAnswer, "WeChat Pay bill: an unreadable amount \(text)")
        }
        var fen = whole * 100
        if parts.count == 2 {
            let decimals = parts[1]
            guard (1...2).contains(decimals.count), decimals.allSatisfy({ $0 >= "0" && $0 <= "9" }) else {
                throw ChannelError(.unverifiedAnswer, "WeChat Pay bill: an unreadable amount \(text)")
            }
            fen += Int64(decimals.count == 1 ? decimals + "0" : String(decimals))!
        }
        return fen
    }

    /// "yyyy-MM-dd HH:mm:ss" in Beijing time (UTC+8, no daylight saving) → Unix ms.
    static func beijingTimeMs(_ text: String) -> Int64? {
        let u = Array(text.utf8)
        guard u.count == 19, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"), u[10] == UInt8(ascii: " "),
              u[13] == UInt8(ascii: ":"), u[16] == UInt8(ascii: ":") else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for i in range {
                guard u[i] >= 48 && u[i] <= 57 else { return nil }
                v = v * 10 + Int64(u[i] - 48)
            }
            return v
        }
        guard let y = number(0..<4), let mo = number(5..<7), let d = number(8..<10), let h = number(11..<13),
              let mi = number(14..<16), let s = number(17..<19),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61 else { return nil }
        let days = daysFromCivil(year: y, month: mo, day: d)
        return ((days * 86_400 + h * 3_600 + mi * 60 + s) - 8 * 3_600) * 1_000
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// `yyyy-MM-dd` → the API's `bill_date` (`yyyyMMdd`); nil for anything else.
    public static func billDate(day: String) -> String? {
        let u = Array(day.utf8)
        guard u.count == 10, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-") else { return nil }
        let digits = u[0..<4] + u[5..<7] + u[8..<10]
        guard digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return String(decoding: digits, as: UTF8.self)
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String { String(trimmingSpacesSubstring()) }

    func trimmingSpacesSubstring() -> Substring {
        let s = Substring(self)
        guard let first = s.firstIndex(where: { $0 != " " && $0 != "\t" }),
              let last = s.lastIndex(where: { $0 != " " && $0 != "\t" }) else { return s[s.startIndex..<s.startIndex] }
        return s[first...last]
    }
}
