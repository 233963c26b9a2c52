/// A value bound to a statement parameter.
public enum SQLiteValue: Equatable, Sendable {
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case null

    /// `.text`, or `.null` for nil.
    public static func text(_ s: String?) -> SQLiteValue { s.map { .text($0) } ?? .null }
    /// `.integer`, or `.null` for nil.
    public static func integer(_ i: Int64?) -> SQLiteValue { i.map { .integer($0) } ?? .null }
    /// `.blob`, or `.null` for nil.
    public static func blob(_ b: [UInt8]?) -> SQLiteValue { b.map { .blob($0) } ?? .null }
}

extension SQLiteValue: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, ExpressibleByNilLiteral {
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(stringLiteral value: String) { self = .text(value) }
    public init(nilLiteral: ()) { self = .null }
}
