/// An amount of money in integer minor units (cents, fen) of one currency.
///
/// Money is never a floating-point number here: "12.34" parses to 1234 minor units exactly.
public struct Money: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    /// Amount in minor units; never negative for prices, payments and refunds.
    public var minorUnits: Int64
    /// ISO 4217 code, upper case, e.g. "CNY".
    public var currency: String

    public init(minorUnits: Int64, currency: String = Money.defaultCurrency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    /// The currency used when none is named. All our currencies have two minor-unit digits.
    public static let defaultCurrency = "CNY"
    /// Largest amount accepted anywhere in the system: 99,999,999.99.
    public static let maximumMinorUnits: Int64 = 9_999_999_999

    public static func < (a: Money, b: Money) -> Bool { a.minorUnits < b.minorUnits }

    /// Parses a decimal amount such as "12.34", "12.3", "12" or "0.05".
    ///
    /// Rejects more than two fraction digits, signs, exponents, spaces, separators and amounts above
    /// `maximumMinorUnits`.
    public static func parse(_ text: String, currency: String = Money.defaultCurrency) throws(MoneyError) -> Money {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw .empty }
        if bytes.first == UInt8(ascii: "-") { throw .negative }
        var whole: Int64 = 0
        var fraction: Int64 = 0
        var fractionDigits = 0
        var seenPoint = false
        var seenDigit = false
        for b in bytes {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let digit = Int64(b - UInt8(ascii: "0"))
                seenDigit = true
                if seenPoint {
                    fractionDigits += 1
                    guard fractionDigits <= 2 else { throw .tooManyFractionDigits }
                    fraction = fraction * 10 + digit
                } else {
                    let (m, o1) = whole.multipliedReportingOverflow(by: 10)
                    let (s, o2) = m.addingReportingOverflow(digit)
                    guard !o1, !o2, s <= maximumMinorUnits / 100 else { throw .tooLarge }
                    whole = s
                }
            case UInt8(ascii: "."):
                guard !seenPoint else { throw .malformed }
                seenPoint = true
            default:
                throw .malformed
            }
        }
        guard seenDigit, !(seenPoint && fractionDigits == 0) else { throw .malformed }
        if fractionDigits == 1 { fraction *= 10 }
        let total = whole * 100 + fraction
        guard total <= maximumMinorUnits else { throw .tooLarge }
        return Money(minorUnits: total, currency: currency)
    }

    /// "12.34" — the amount without currency.
    public var decimalString: String {
        let sign = minorUnits < 0 ? "-" : ""
        let magnitude = minorUnits.magnitude
        let cents = magnitude % 100
        return "\(sign)\(magnitude / 100).\(cents < 10 ? "0" : "")\(cents)"
    }

    /// "12.34 CNY".
    public var description: String { "\(decimalString) \(currency)" }

    public static func + (a: Money, b: Money) -> Money {
        precondition(a.currency == b.currency, "adding different currencies")
        return Money(minorUnits: a.minorUnits + b.minorUnits, currency: a.currency)
    }

    public static func - (a: Money, b: Money) -> Money {
        precondition(a.currency == b.currency, "subtracting different currencies")
        return Money(minorUnits: a.minorUnits - b.minorUnits, currency: a.currency)
    }

    /// Whether `currency` looks like an ISO 4217 code (three upper-case letters).
    public static func isValidCurrency(_ currency: String) -> Bool {
        currency.utf8.count == 3 && currency.utf8.allSatisfy { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
    }
}

/// Why a text is not an amount.
public enum MoneyError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty, negative, malformed, tooManyFractionDigits, tooLarge

    public var description: String {
        switch self {
        case .empty: return "No amount was given."
        case .negative: return "An amount cannot be negative."
        case .malformed: return "An amount is written like 12.34: digits with at most one decimal point."
        case .tooManyFractionDigits: return "An amount has at most two digits after the decimal point."
        case .tooLarge: return "The amount is larger than 99999999.99."
        }
    }
}
