/// A type the API writes with `JSONWriter` instead of Foundation's encoder (see `API.encode`).
public protocol WireEncodable {
    /// Writes the value as one JSON value.
    func write(to writer: inout JSONWriter)
}

/// A type the API reads from a parsed `JSONValue` instead of with Foundation's decoder (see `API.decode`).
///
/// Errors are the `DecodingError`s Foundation would throw for the same text, their coding paths
/// relative to the value being read; enclosing objects and arrays prefix their key or index.
public protocol WireDecodable {
    init(wire value: JSONValue) throws
}

public typealias WireCodable = WireEncodable & WireDecodable

extension WireEncodable {
    /// The value as JSON text.
    public func wireBytes() -> [UInt8] {
        var writer = JSONWriter()
        write(to: &writer)
        return writer.bytes
    }
}

/// A field name or array index in a decoding error's path.
struct WireKey: CodingKey {
    let stringValue: String
    let intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue; intValue = nil }
    init(intValue: Int) { stringValue = "Index \(intValue)"; self.intValue = intValue }
}

extension DecodingError {
    /// The same error one level further down: `key` goes in front of its coding path.
    func prefixed(by key: any CodingKey) -> DecodingError {
        func moved(_ c: Context) -> Context {
            Context(codingPath: [key] + c.codingPath, debugDescription: c.debugDescription, underlyingError: c.underlyingError)
        }
        switch self {
        case .typeMismatch(let type, let c): return .typeMismatch(type, moved(c))
        case .valueNotFound(let type, let c): return .valueNotFound(type, moved(c))
        case .keyNotFound(let missing, let c): return .keyNotFound(missing, moved(c))
        case .dataCorrupted(let c): return .dataCorrupted(moved(c))
        @unknown default: return self
        }
    }

    static func wrongType(_ type: Any.Type, found value: JSONValue) -> DecodingError {
        .typeMismatch(type, .init(codingPath: [], debugDescription: "Expected \(type) but found \(value.kind) instead."))
    }

    static func invalid(_ reason: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: [], debugDescription: reason))
    }
}

/// Decodes `value` as a `T` found under `key`, so any error names the key in its path.
@inline(__always)
func decodeElement<T: WireDecodable>(_ value: JSONValue, under key: @autoclosure () -> any CodingKey) throws -> T {
    do { return try T(wire: value) } catch let error as DecodingError { throw error.prefixed(by: key()) }
}

/// The members of one JSON object being read into a wire type.
public struct WireFields {
    private let members: [JSONMember]

    /// The object's members, or the error Foundation gives when `value` is not an object.
    public init<T>(_ value: JSONValue, of type: T.Type) throws {
        switch value {
        case .object(let members): self.members = members
        case .null: throw DecodingError.valueNotFound(type, .init(codingPath: [], debugDescription: "Found null instead of an object."))
        default: throw DecodingError.wrongType(type, found: value)
        }
    }

    /// The first member named `key` (Foundation also takes the first of repeated keys).
    private func member(_ key: String) -> JSONValue? {
        for m in members where m.key == key { return m.value }
        return nil
    }

    /// A field that must be present and not null.
    public func required<T: WireDecodable>(_ key: String) throws -> T {
        guard let value = member(key) else {
            throw DecodingError.keyNotFound(WireKey(stringValue: key), .init(codingPath: [],
                debugDescription: "No value associated with key \"\(key)\"."))
        }
        if case .null = value {
            throw DecodingError.valueNotFound(T.self, .init(codingPath: [WireKey(stringValue: key)],
                debugDescription: "Expected \(T.self) but found null instead."))
        }
        return try decodeElement(value, under: WireKey(stringValue: key))
    }

    /// A field that may be absent or null.
    public func optional<T: WireDecodable>(_ key: String) throws -> T? {
        guard let value = member(key) else { return nil }
        if case .null = value { return nil }
        return try decodeElement(value, under: WireKey(stringValue: key)) as T
    }
}

// MARK: - Values

extension String: WireCodable {
    public func write(to writer: inout JSONWriter) { writer.string(self) }
    public init(wire value: JSONValue) throws {
        guard case .string(let text) = value else { throw DecodingError.wrongType(String.self, found: value) }
        self = text
    }
}

extension Int64: WireCodable {
    public func write(to writer: inout JSONWriter) { writer.integer(self) }

    /// Whole numbers only; like Foundation, `1.0` and `1e3` count as whole, `12.5` does not.
    public init(wire value: JSONValue) throws {
        switch value {
        case .integer(let n): self = n
        case .number(let d):
            guard d.rounded() == d, d.magnitude <= 9_007_199_254_740_992 else {
                throw DecodingError.invalid("Parsed JSON number <\(d)> does not fit in Int64.")
            }
            self = Int64(d)
        default: throw DecodingError.wrongType(Int64.self, found: value)
        }
    }
}

extension Int: WireCodable {
    public func write(to writer: inout JSONWriter) { writer.integer(Int64(self)) }
    public init(wire value: JSONValue) throws {
        do { self = Int(try Int64(wire: value)) } catch DecodingError.typeMismatch {
            throw DecodingError.wrongType(Int.self, found: value)
        }
    }
}

extension Double: WireEncodable {
    public func write(to writer: inout JSONWriter) { writer.number(self) }
}

extension Bool: WireCodable {
    public func write(to writer: inout JSONWriter) { writer.bool(self) }
    public init(wire value: JSONValue) throws {
        guard case .bool(let flag) = value else { throw DecodingError.wrongType(Bool.self, found: value) }
        self = flag
    }
}

extension Array: WireEncodable where Element: WireEncodable {
    public func write(to writer: inout JSONWriter) {
        writer.beginArray()
        for element in self { element.write(to: &writer) }
        writer.endArray()
    }
}

extension Array: WireDecodable where Element: WireDecodable {
    public init(wire value: JSONValue) throws {
        guard case .array(let elements) = value else { throw DecodingError.wrongType([Element].self, found: value) }
        self = []
        reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            append(try decodeElement(element, under: WireKey(intValue: index)))
        }
    }
}

/// A string enum on the wire: its raw value, and an unknown one refused as Foundation refuses it.
public protocol WireStringEnum: WireCodable, RawRepresentable where RawValue == String {}

extension WireStringEnum {
    public func write(to writer: inout JSONWriter) { writer.string(rawValue) }
    public init(wire value: JSONValue) throws {
        let raw = try String(wire: value)
        guard let known = Self(rawValue: raw) else {
            throw DecodingError.invalid("Cannot initialize \(Self.self) from invalid String value \(raw)")
        }
        self = known
    }
}
