import CashierCore
import Foundation

/// libFuzzer entry: the JSON decoders of every request body the service reads, and the error envelope.
///
/// The first byte picks the type; the rest is the body. Decoding may fail, never trap; a decoded
/// value must encode and decode back to itself, be written as Foundation writes it, and be what
/// Foundation reads from the same body.
@_cdecl("LLVMFuzzerTestOneInput")
public func requestBodyFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard size > 0, let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let body = Array(bytes.dropFirst())
    switch bytes[0] % 6 {
    case 0: roundTrip(ActivateRequest.self, body)
    case 1: roundTrip(CreateOrderRequest.self, body)
    case 2: roundTrip(PayRequest.self, body)
    case 3: roundTrip(RefundRequest.self, body)
    case 4: _ = try? API.decode(ErrorEnvelope.self, from: body)
    default: _ = try? API.decode(OrderView.self, from: body)
    }
    return 0
}

private func roundTrip<T: Codable & Equatable>(_ type: T.Type, _ body: [UInt8]) {
    guard let value = try? API.decode(type, from: body) else { return }
    let written = API.encode(value)
    let again = try? API.decode(type, from: written)
    precondition(again == value, "\(type) does not round-trip")
    // The hand-written coder against Foundation's, which it replaced (Sources/CashierCore/Wire).
    precondition(written == Array(try! API.makeEncoder().encode(value)), "\(type) is written unlike Foundation")
    if let parsed = try? JSONParser.parse(body), keysAreCanonical(parsed) {
        let foundation = try? API.makeDecoder().decode(type, from: Data(body))
        precondition(foundation == value, "\(type) is read unlike Foundation")
    }
}

/// Whether every key is plain snake_case, the only case where Foundation's key conversion (which also
/// takes `clientRef`, `client__ref` or `device_ſecret` for the
/// plain keys) must agree with the wire reader's exact keys.
private func keysAreCanonical(_ value: JSONValue) -> Bool {
    switch value {
    case .object(let members):
        return members.allSatisfy { m in
            !m.key.hasPrefix("_") && !m.key.hasSuffix("_") && !m.key.contains("__")
                && m.key.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
                && keysAreCanonical(m.value)
        }
    case .array(let elements): return elements.allSatisfy(keysAreCanonical)
    default: return true
    }
}
