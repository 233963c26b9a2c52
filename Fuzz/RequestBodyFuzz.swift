import CashierCore

/// libFuzzer entry: the JSON decoders of every request body the service reads, and the error envelope.
///
/// The first byte picks the type; the rest is the body. Decoding may fail, never trap; a decoded
/// value must encode and decode back to itself.
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
    let again = try? API.decode(type, from: API.encode(value))
    precondition(again == value, "\(type) does not round-trip")
}
