/// The DB group an order's data lives in: 0 through 99.
public struct GroupTag: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let value: Int
    public static let range = 0...99

    public init?(_ value: Int) {
        guard GroupTag.range.contains(value) else { return nil }
        self.value = value
    }

    public static func < (a: GroupTag, b: GroupTag) -> Bool { a.value < b.value }
    public var description: String { value < 10 ? "0\(value)" : "\(value)" }

    public init(from decoder: Decoder) throws {
        let v = try decoder.singleValueContainer().decode(Int.self)
        guard let tag = GroupTag(v) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "group outside 0...99"))
        }
        self = tag
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value)
    }
}

/// An order number: 23 decimal digits that say when, where and in which DB group an order was made.
///
/// Layout: `YYMMDDhhmmss` (UTC, 12) · instance (3) · sequence (5) · group tag (2) · check digit (1).
/// Like the seed's numbers, the group is appended to a time-ordered number; the Luhn check digit
/// catches a mistyped or misread number before any lookup. Two service instances never produce the
/// same number as long as their instance ids differ; the group's primary key backs that up.
public struct OrderNumber: Hashable, Comparable, Codable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    public let digits: String

    public static let length = 23

    /// Builds a number from its parts; the check digit is computed.
    public init(epochSeconds: Int64, instance: Int, sequence: Int, group: GroupTag) {
        precondition((0...999).contains(instance) && (0...99_999).contains(sequence))
        let body = CivilTime(epochSeconds: epochSeconds).compactDigits
            + pad(instance, 3) + pad(sequence, 5) + group.description
        self.digits = body + String(Luhn.checkDigit(for: body))
    }

    /// Parses and validates a number as typed or scanned; spaces and dashes are ignored.
    public init?(_ text: String) {
        let cleaned = String(text.unicodeScalars.filter { $0 != " " && $0 != "-" })
        guard cleaned.utf8.count == OrderNumber.length,
              cleaned.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              Luhn.isValid(cleaned) else { return nil }
        self.digits = cleaned
    }

    /// The DB group named by the number.
    public var group: GroupTag {
        let u = Array(digits.utf8)
        return GroupTag(Int(u[20] - 48) * 10 + Int(u[21] - 48))!
    }

    /// When the number was made (its first 12 digits, UTC, years 2000–2099), in Unix seconds.
    public var epochSeconds: Int64 {
        let u = Array(digits.utf8).prefix(12).map { Int64($0 - 48) }
        func two(_ i: Int) -> Int64 { u[i] * 10 + u[i + 1] }
        return CivilTime.epochSeconds(year: 2000 + two(0), month: two(2), day: two(4), hour: two(6), minute: two(8), second: two(10))
    }

    /// The instance id that made the number.
    public var instance: Int { Int(String(digits.dropFirst(12).prefix(3)))! }

    public var description: String { digits }
    public static func < (a: OrderNumber, b: OrderNumber) -> Bool { a.digits < b.digits }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let n = OrderNumber(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an order number"))
        }
        self = n
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(digits)
    }
}

/// A refund number: "R" followed by the same 23-digit layout, carrying the group of its order.
public struct RefundNumber: Hashable, Codable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    public let text: String

    public init(epochSeconds: Int64, instance: Int, sequence: Int, group: GroupTag) {
        text = "R" + OrderNumber(epochSeconds: epochSeconds, instance: instance, sequence: sequence, group: group).digits
    }

    public init?(_ text: String) {
        guard text.first == "R", OrderNumber(String(text.dropFirst())) != nil, !text.contains(" "), !text.contains("-") else { return nil }
        self.text = text
    }

    public var group: GroupTag { OrderNumber(String(text.dropFirst()))!.group }
    public var description: String { text }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let n = RefundNumber(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a refund number"))
        }
        self = n
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(text)
    }
}

/// Hands out order and refund numbers for one service instance.
///
/// The sequence runs 0...99999 and wraps; within one second an instance can make 100,000 numbers
/// before a repeat, and a repeat is refused by the group's primary key and retried by the caller.
public struct OrderNumberGenerator: Sendable {
    public let instance: Int
    private var sequence: Int

    public init(instance: Int, startSequence: Int = 0) {
        precondition((0...999).contains(instance), "instance id must be 0...999")
        self.instance = instance
        self.sequence = startSequence % 100_000
    }

    public mutating func next(epochSeconds: Int64, group: GroupTag) -> OrderNumber {
        defer { sequence = (sequence + 1) % 100_000 }
        return OrderNumber(epochSeconds: epochSeconds, instance: instance, sequence: sequence, group: group)
    }

    public mutating func nextRefund(epochSeconds: Int64, group: GroupTag) -> RefundNumber {
        defer { sequence = (sequence + 1) % 100_000 }
        return RefundNumber(epochSeconds: epochSeconds, instance: instance, sequence: sequence, group: group)
    }
}

/// The Luhn (mod 10) check digit used on order numbers.
public enum Luhn {
    /// The check digit for a string of decimal digits; any other character counts as 0 (callers check
    /// that text is all digits first; this only guarantees it never traps).
    public static func checkDigit(for digits: String) -> Int {
        var sum = 0
        for (i, c) in digits.utf8.reversed().enumerated() {
            var d = c >= 48 && c <= 57 ? Int(c - 48) : 0
            if i % 2 == 0 { d *= 2; if d > 9 { d -= 9 } }
            sum += d
        }
        return (10 - sum % 10) % 10
    }

    public static func isValid(_ digits: String) -> Bool {
        guard let last = digits.utf8.last, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return false }
        return checkDigit(for: String(digits.dropLast())) == Int(last - 48)
    }
}

/// Calendar fields of a UTC instant, computed without Foundation (Howard Hinnant's civil-from-days).
public struct CivilTime: Equatable, Sendable {
    public let year, month, day, hour, minute, second: Int

    public init(epochSeconds: Int64) {
        let days = Int(epochSeconds >= 0 ? epochSeconds / 86_400 : (epochSeconds - 86_399) / 86_400)
        let secs = Int(epochSeconds - Int64(days) * 86_400)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (m <= 2 ? 1 : 0)
        month = m
        day = d
        hour = secs / 3600
        minute = secs % 3600 / 60
        second = secs % 60
    }

    /// Unix seconds of a UTC civil time (proleptic Gregorian; the inverse of `init(epochSeconds:)`).
    public static func epochSeconds(year: Int64, month: Int64, day: Int64, hour: Int64 = 0, minute: Int64 = 0, second: Int64 = 0) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * 86_400 + hour * 3_600 + minute * 60 + second
    }

    /// `YYMMDDhhmmss`.
    public var compactDigits: String {
        pad(year % 100, 2) + pad(month, 2) + pad(day, 2) + pad(hour, 2) + pad(minute, 2) + pad(second, 2)
    }

    /// `YYYY-MM-DD`.
    public var dayDisplay: String { "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))" }

    /// `YYYY-MM-DD hh:mm:ss` (UTC).
    public var display: String {
        "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2))"
    }
}

/// Zero-pads a non-negative number to `width` digits.
public func pad(_ value: Int, _ width: Int) -> String {
    let s = String(value)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}
