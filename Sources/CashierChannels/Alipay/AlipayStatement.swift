#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Alipay's day statement (`bill_type` `trade`): a zip holding two GBK-encoded CSV files, the detail
/// (`…_业务明细.csv`) and the summary (`…_业务明细(汇总).csv`). The detail has `#` comment lines around
/// one table whose first row names the columns; each row is a payment (`交易`) or a refund (`退款`),
/// its cells often padded with tabs. Columns are found by name, not position, since Alipay adds columns.
public enum AlipayStatement {
    public struct Unreadable: Error, CustomStringConvertible, Sendable { public var description: String }

    /// The largest statement file we inflate (a day of a busy chain is a few MB).
    static let maxEntryBytes = 64 << 20

    /// The lines of the zipped statement `zip`.
    public static func lines(zip: [UInt8]) throws(Unreadable) -> [StatementLine] {
        try lines(csv: try detailText(zip: zip))
    }

    /// The lines of a statement file the operator has for `day`: the zip as downloaded, or the detail CSV taken
    /// out of it (GBK as Alipay writes it, or UTF-8 once converted). A file that says it is another day's
    /// statement (`#起始日期：[…]`) is refused.
    public static func lines(file bytes: [UInt8], day: String) throws(Unreadable) -> [StatementLine] {
        let text: String
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            text = try detailText(zip: bytes)
        } else if let utf8 = String(validating: bytes, as: UTF8.self) {
            text = utf8.hasPrefix("\u{FEFF}") ? String(utf8.dropFirst()) : utf8
        } else if let gbk = GBKText.decode(bytes) {
            text = gbk
        } else {
            throw Unreadable(description: "the file is neither a statement zip nor its detail CSV (GBK or UTF-8)")
        }
        if let said = Self.day(csv: text), said != day {
            throw Unreadable(description: "the file is the statement of \(said), not of \(day)")
        }
        return try lines(csv: text)
    }

    /// The first day the detail says it covers (`#起始日期：[2026年01月05日 00:00:00]`) as `yyyy-MM-dd`; nil when
    /// it does not say.
    static func day(csv text: String) -> String? {
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) where raw.hasPrefix("#") {
            guard let marker = raw.range(of: "起始日期：[") else { continue }
            let digits = raw[marker.upperBound...].prefix(11).filter { $0.isASCII && $0.isNumber }
            guard digits.count == 8 else { return nil }
            let d = Array(digits)
            return String(d[0..<4]) + "-" + String(d[4..<6]) + "-" + String(d[6..<8])
        }
        return nil
    }

    /// The detail CSV's text out of the zipped statement.
    static func detailText(zip: [UInt8]) throws(Unreadable) -> String {
        let entries: [ZipArchive.Entry]
        do { entries = try ZipArchive.entries(zip) } catch { throw Unreadable(description: "statement zip: \(error.description)") }
        let details = entries.filter { $0.name.hasSuffix("业务明细.csv") && !$0.name.contains("汇总") }
        guard details.count == 1, let detail = details.first else {
            throw Unreadable(description: "statement zip holds \(details.count) detail files (\(entries.map(\.name).joined(separator: ", ")))")
        }
        let bytes: [UInt8]
        do { bytes = try ZipArchive.contents(of: detail, in: zip, limit: maxEntryBytes) } catch { throw Unreadable(description: "statement detail: \(error.description)") }
        guard let text = GBKText.decode(bytes) else { throw Unreadable(description: "statement detail is not GBK text") }
        return text
    }

    /// The lines of the detail CSV, already decoded.
    public static func lines(csv text: String) throws(Unreadable) -> [StatementLine] {
        var header: [String: Int]?
        var out: [StatementLine] = []
        for raw in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let line = String(raw)
            if line.hasPrefix("#") {
                if header != nil { break }  // the table has ended: summary comments follow
                continue
            }
            let cells = csvCells(line).map(trimmed)
            guard let columns = header else {
                header = Dictionary(cells.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
                for name in [Column.tradeNo, Column.outTradeNo, Column.kind, Column.amount] where header?[name] == nil {
                    throw Unreadable(description: "statement has no column \(name)")
                }
                continue
            }
            func cell(_ name: String) -> String? { columns[name].flatMap { $0 < cells.count ? cells[$0] : nil } }
            guard let kindText = cell(Column.kind) else { continue }
            let kind: StatementLine.Kind
            switch kindText {
            case "交易": kind = .payment
            case "退款": kind = .refund
            default: continue  // other business types are not payments or refunds of ours
            }
            guard let outTradeNo = cell(Column.outTradeNo), !outTradeNo.isEmpty,
                  let tradeNo = cell(Column.tradeNo), !tradeNo.isEmpty,
                  let amountText = cell(Column.amount), let amount = AlipayAmount.fen(yuan: amountText) else {
                throw Unreadable(description: "statement row without order number, trade number or amount")
            }
            let refundNo = kind == .refund ? cell(Column.refundNo).flatMap { $0.isEmpty ? nil : $0 } : nil
            let time = cell(Column.finished).flatMap { AlipayTime.unixMs(timestamp: $0) }
            out.append(StatementLine(kind: kind, outTradeNo: outTradeNo, refundNo: refundNo, amount: abs(amount),
                                     providerID: tradeNo, time: time))
        }
        guard header != nil else { throw Unreadable(description: "statement has no table") }
        return out
    }

    enum Column {
        static let tradeNo = "支付宝交易号"
        static let outTradeNo = "商户订单号"
        static let kind = "业务类型"
        static let finished = "完成时间"
        static let amount = "订单金额（元）"
        static let refundNo = "退款批次号/请求号"
    }

    /// Cells of one CSV line: commas separate, double quotes quote (`""` is a quote inside).
    static func csvCells(_ line: String) -> [String] {
        var cells: [String] = []
        var current = ""
        var quoted = false
        var chars = line.makeIterator()
        while let c = chars.next() {
            if quoted {
                if c == "\"" {
                    // A doubled quote stands for one; otherwise the quoted part ends here.
                    var lookahead = chars
                    if lookahead.next() == "\"" { current.append("\""); chars = lookahead } else { quoted = false }
                } else { current.append(c) }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                cells.append(current); current = ""
            } else {
                current.append(c)
            }
        }
        cells.append(current)
        return cells
    }

    /// Without the spaces and tabs Alipay pads cells with (and the backquote some exports add).
    static func trimmed(_ cell: String) -> String {
        var s = Substring(cell)
        while let f = s.first, f == " " || f == "\t" || f == "`" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}

/// GBK (read as GB 18030, its superset) to Swift strings through the C library's iconv.
enum GBKText {
    static func decode(_ bytes: [UInt8]) -> String? {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        let cd = iconv_open("UTF-8", "GB18030")
        guard let cd, Int(bitPattern: cd) != -1 else { return nil }
        defer { iconv_close(cd) }
        var input = bytes
        var output = [UInt8](repeating: 0, count: bytes.count * 2 + 16)  // a GBK character is at most 3 UTF-8 bytes for 2
        let written: Int? = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                var inPointer: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(inBuffer.baseAddress!).assumingMemoryBound(to: CChar.self)
                var outPointer: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(outBuffer.baseAddress!).assumingMemoryBound(to: CChar.self)
                var inLeft = inBuffer.count
                var outLeft = outBuffer.count
                guard iconv(cd, &inPointer, &inLeft, &outPointer, &outLeft) != -1, inLeft == 0 else { return nil }
                return outBuffer.count - outLeft
            }
        }
        guard let written else { return nil }
        return String(validating: output.prefix(written), as: UTF8.self)
    }
}

/// A reader of the zip files Alipay serves: the central directory, entries stored or deflated, no
/// encryption, no zip64. Names are UTF-8 when the entry says so (flag bit 11), else GBK.
enum ZipArchive {
    struct Malformed: Error, CustomStringConvertible { var description: String }

    struct Entry {
        var name: String
        var method: UInt16
        var flags: UInt16
        var crc: UInt32
        var compressedSize: Int
        var size: Int
        var localHeaderOffset: Int
    }

    static func entries(_ z: [UInt8]) throws(Malformed) -> [Entry] {
        // The end-of-central-directory record is in the last 22 + 65535 bytes.
        guard z.count >= 22 else { throw Malformed(description: "too short") }
        var eocd: Int?
        var i = z.count - 22
        let lowest = max(0, z.count - 22 - 65_535)
        while i >= lowest {
            if u32(z, i) == 0x0605_4B50 { eocd = i; break }
            i -= 1
        }
        guard let e = eocd else { throw Malformed(description: "no end of central directory") }
        let count = Int(u16(z, e + 10))
        let size = Int(u32(z, e + 12))
        let offset = Int(u32(z, e + 16))
        guard offset + size <= e, count <= 1000 else { throw Malformed(description: "central directory out of bounds") }
        var entries: [Entry] = []
        var p = offset
        for _ in 0..<count {
            guard p + 46 <= e, u32(z, p) == 0x0201_4B50 else { throw Malformed(description: "bad central directory entry") }
            let flags = u16(z, p + 8)
            let method = u16(z, p + 10)
            let crc = u32(z, p + 16)
            let compressed = u32(z, p + 20)
            let uncompressed = u32(z, p + 24)
            let nameLength = Int(u16(z, p + 28)), extraLength = Int(u16(z, p + 30)), commentLength = Int(u16(z, p + 32))
            let local = u32(z, p + 42)
            guard compressed != 0xFFFF_FFFF, uncompressed != 0xFFFF_FFFF, local != 0xFFFF_FFFF else { throw Malformed(description: "zip64 is not supported") }
            guard p + 46 + nameLength <= e else { throw Malformed(description: "entry name out of bounds") }
            let nameBytes = Array(z[(p + 46)..<(p + 46 + nameLength)])
            let name = flags & 0x0800 != 0 ? String(decoding: nameBytes, as: UTF8.self)
                                           : (GBKText.decode(nameBytes) ?? String(decoding: nameBytes, as: UTF8.self))
            entries.append(Entry(name: name, method: method, flags: flags, crc: crc, compressedSize: Int(compressed),
                                 size: Int(uncompressed), localHeaderOffset: Int(local)))
            p += 46 + nameLength + extraLength + commentLength
        }
        return entries
    }

    static func contents(of entry: Entry, in z: [UInt8], limit: Int) throws(Malformed) -> [UInt8] {
        guard entry.flags & 0x0001 == 0 else { throw Malformed(description: "\(entry.name) is encrypted") }
        let p = entry.localHeaderOffset
        guard p + 30 <= z.count, u32(z, p) == 0x0403_4B50 else { throw Malformed(description: "bad local header for \(entry.name)") }
        let start = p + 30 + Int(u16(z, p + 26)) + Int(u16(z, p + 28))
        guard start + entry.compressedSize <= z.count else { throw Malformed(description: "\(entry.name) is truncated") }
        let data = Array(z[start..<(start + entry.compressedSize)])
        let bytes: [UInt8]
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.size else { throw Malformed(description: "stored \(entry.name) has two sizes") }
            bytes = data
        case 8:
            do { bytes = try Inflate.raw(data, expectedSize: entry.size, limit: limit) } catch { throw Malformed(description: "\(entry.name): \(error.description)") }
        default:
            throw Malformed(description: "\(entry.name) uses compression method \(entry.method)")
        }
        guard Inflate.crc32(bytes) == entry.crc else { throw Malformed(description: "\(entry.name) fails its CRC") }
        return bytes
    }

    private static func u16(_ b: [UInt8], _ i: Int) -> UInt16 { i + 2 <= b.count ? UInt16(b[i]) | UInt16(b[i + 1]) << 8 : 0 }
    private static func u32(_ b: [UInt8], _ i: Int) -> UInt32 {
        i + 4 <= b.count ? UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24 : 0
    }
}
