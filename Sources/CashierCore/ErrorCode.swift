/// The catalogue of stable error codes. Codes never change meaning; docs/ERRORS.md lists them all.
///
/// Service errors travel as `{"error": {"code", "message", "detail", "retryable"}}`; client-side
/// codes (the last group) are raised by `cashier` itself. People see `message`, a plain sentence.
public enum ErrorCode: String, Codable, Sendable, CaseIterable {
    // The request itself.
    case malformedRequest = "MALFORMED_REQUEST"
    case invalidField = "INVALID_FIELD"
    case bodyTooLarge = "BODY_TOO_LARGE"
    case notFound = "NOT_FOUND"
    case methodNotAllowed = "METHOD_NOT_ALLOWED"
    // HTTP itself, answered by the HTTP layer before any handler (`HTTPRefusal` in HTTPServer).
    case httpMalformed = "HTTP_MALFORMED"
    case uriTooLong = "URI_TOO_LONG"
    case headersTooLarge = "HEADERS_TOO_LARGE"
    case httpVersionNotSupported = "HTTP_VERSION_NOT_SUPPORTED"
    // Authentication of a signed request.
    case signatureMissing = "SIGNATURE_MISSING"
    case deviceUnknown = "DEVICE_UNKNOWN"
    case deviceRevoked = "DEVICE_REVOKED"
    case signatureInvalid = "SIGNATURE_INVALID"
    case timestampSkewed = "TIMESTAMP_SKEWED"
    case nonceReplayed = "NONCE_REPLAYED"
    // Activation.
    case activationCodeInvalid = "ACTIVATION_CODE_INVALID"
    case activationCodeUsed = "ACTIVATION_CODE_USED"
    case activationCodeExpired = "ACTIVATION_CODE_EXPIRED"
    case rateLimited = "RATE_LIMITED"
    // Orders, payments and refunds.
    case orderNotFound = "ORDER_NOT_FOUND"
    case orderOtherStore = "ORDER_OTHER_STORE"
    case orderNotPayable = "ORDER_NOT_PAYABLE"
    case paymentUnderWay = "PAYMENT_UNDER_WAY"
    case orderNotPaid = "ORDER_NOT_PAID"
    case orderNotReversible = "ORDER_NOT_REVERSIBLE"
    case paymentCodeInvalid = "PAYMENT_CODE_INVALID"
    case channelNotConfigured = "CHANNEL_NOT_CONFIGURED"
    case amountInvalid = "AMOUNT_INVALID"
    case refundExceedsPaid = "REFUND_EXCEEDS_PAID"
    case refundLimitReached = "REFUND_LIMIT_REACHED"
    case pinInvalid = "PIN_INVALID"
    case pinNotSupervisor = "PIN_NOT_SUPERVISOR"
    case pinLocked = "PIN_LOCKED"
    case idempotencyConflict = "IDEMPOTENCY_CONFLICT"
    case refundRefused = "REFUND_REFUSED"
    case staffUnknown = "STAFF_UNKNOWN"
    case shiftNotFound = "SHIFT_NOT_FOUND"
    case shiftAlreadyOpen = "SHIFT_ALREADY_OPEN"
    case shiftUnsettled = "SHIFT_UNSETTLED"
    case supervisorRequired = "SUPERVISOR_REQUIRED"
    // Availability.
    case groupUnavailable = "GROUP_UNAVAILABLE"
    case noGroupAvailable = "NO_GROUP_AVAILABLE"
    case overloaded = "OVERLOADED"
    case channelUnavailable = "CHANNEL_UNAVAILABLE"
    case baseUnavailable = "BASE_UNAVAILABLE"
    case internalError = "INTERNAL"
    // Raised by the client.
    case serviceUnreachable = "SERVICE_UNREACHABLE"
    case responseUnverified = "RESPONSE_UNVERIFIED"
    case tlsUntrusted = "TLS_UNTRUSTED"
    case keystoreInsecure = "KEYSTORE_INSECURE"
    case notActivated = "NOT_ACTIVATED"
    case configInvalid = "CONFIG_INVALID"
    case badInput = "BAD_INPUT"

    /// The HTTP status the service answers with.
    public var httpStatus: Int {
        switch self {
        case .malformedRequest, .invalidField, .paymentCodeInvalid, .channelNotConfigured, .amountInvalid, .badInput, .httpMalformed: return 400
        case .signatureMissing, .deviceUnknown, .signatureInvalid, .timestampSkewed, .nonceReplayed: return 401
        case .deviceRevoked, .orderOtherStore, .pinInvalid, .pinNotSupervisor, .supervisorRequired: return 403
        case .notFound, .activationCodeInvalid, .orderNotFound, .staffUnknown, .shiftNotFound: return 404
        case .methodNotAllowed: return 405
        case .activationCodeUsed, .orderNotPayable, .paymentUnderWay, .orderNotPaid, .orderNotReversible, .refundExceedsPaid,
             .refundLimitReached, .idempotencyConflict, .refundRefused, .shiftAlreadyOpen, .shiftUnsettled: return 409
        case .activationCodeExpired: return 410
        case .bodyTooLarge: return 413
        case .uriTooLong: return 414
        case .headersTooLarge: return 431
        case .httpVersionNotSupported: return 505
        case .rateLimited, .pinLocked: return 429
        case .internalError: return 500
        case .channelUnavailable: return 502
        case .groupUnavailable, .noGroupAvailable, .overloaded, .baseUnavailable, .serviceUnreachable: return 503
        case .responseUnverified, .tlsUntrusted, .keystoreInsecure, .notActivated, .configInvalid: return 500
        }
    }

    /// Whether the same request may succeed if sent again later unchanged.
    public var isRetryable: Bool {
        switch self {
        case .groupUnavailable, .noGroupAvailable, .overloaded, .channelUnavailable, .serviceUnreachable,
             .rateLimited, .pinLocked, .internalError, .paymentUnderWay, .baseUnavailable, .shiftUnsettled:
            return true
        default:
            return false
        }
    }

    /// The plain sentence shown to people.
    public var message: String {
        switch self {
        case .malformedRequest: return "The request could not be read; it is not the JSON this call expects."
        case .invalidField: return "A field in the request has a value that is not allowed."
        case .bodyTooLarge: return "The request is larger than the service accepts."
        case .notFound: return "There is no such service endpoint."
        case .methodNotAllowed: return "This endpoint does not accept that method."
        case .httpMalformed: return "The request is not well-formed HTTP/1.1; the connection was closed."
        case .uriTooLong: return "The request's path and query are longer than the service accepts."
        case .headersTooLarge: return "The request's headers are larger than the service accepts."
        case .httpVersionNotSupported: return "The service speaks HTTP/1.1 (and 1.0) only."
        case .signatureMissing: return "The request is not signed."
        case .deviceUnknown: return "This terminal is not registered with the service."
        case .deviceRevoked: return "This terminal has been blocked; ask the store manager to activate it again."
        case .signatureInvalid: return "The request signature is wrong; the request was refused."
        case .timestampSkewed: return "The terminal's clock is too far from the service's clock."
        case .nonceReplayed: return "This request was already received once and was refused as a replay."
        case .activationCodeInvalid: return "That activation code does not exist; check it and type it again."
        case .activationCodeUsed: return "That activation code has already been used."
        case .activationCodeExpired: return "That activation code has expired; ask for a new one."
        case .rateLimited: return "Too many attempts; wait a minute and try again."
        case .orderNotFound: return "No order has that number."
        case .orderOtherStore: return "That order belongs to another store."
        case .orderNotPayable: return "That order can no longer be paid."
        case .paymentUnderWay: return "A payment is under way for this order; wait for it, or cancel it first."
        case .orderNotPaid: return "That order has not been paid, so nothing can be refunded."
        case .orderNotReversible: return "That order is already final and cannot be cancelled."
        case .paymentCodeInvalid: return "That is not a valid payment code; scan the customer's code again."
        case .channelNotConfigured: return "This store does not take that kind of payment code; ask the customer to pay another way."
        case .amountInvalid: return "The amount is not valid."
        case .refundExceedsPaid: return "The refund would be more than what remains paid on the order."
        case .refundLimitReached: return "This order has had as many refunds as are allowed."
        case .pinInvalid: return "The PIN is wrong."
        case .pinNotSupervisor: return "Refunds need a supervisor's PIN."
        case .pinLocked: return "Too many wrong PINs; PINs from this terminal are refused for a while."
        case .idempotencyConflict: return "That refund reference was already used for a different refund."
        case .refundRefused: return "The payment channel refused the refund."
        case .staffUnknown: return "No member of this store's staff has that id; sign in again."
        case .shiftNotFound: return "There is no such shift open at this terminal; open a shift first."
        case .shiftAlreadyOpen: return "This terminal already has a shift open; close it first."
        case .shiftUnsettled: return "A payment of this shift is not final yet; settle it, then close the shift."
        case .supervisorRequired: return "The counted cash is too far from the expected; a supervisor's PIN is needed."
        case .groupUnavailable: return "The order's data is temporarily unavailable; try again shortly."
        case .noGroupAvailable: return "No order database can take new orders right now; try again shortly."
        case .overloaded: return "The service is busy; try again in a moment."
        case .channelUnavailable: return "The payment channel did not answer; try again shortly."
        case .baseUnavailable: return "The service's base data is temporarily unavailable; try again shortly."
        case .internalError: return "The service hit an unexpected error."
        case .serviceUnreachable: return "The cashier service cannot be reached."
        case .responseUnverified: return "An answer from the service failed its signature check and was ignored."
        case .tlsUntrusted: return "The service's certificate is not trusted; the connection was refused."
        case .keystoreInsecure: return "The device keystore can be read by other users; fix its permissions (chmod 600)."
        case .notActivated: return "This terminal is not activated yet."
        case .configInvalid: return "The configuration file is not valid."
        case .badInput: return "The input is not valid."
        }
    }
}

/// An error as the service sends it and the client shows it.
public struct APIError: Error, Codable, Equatable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var detail: String?
    public var retryable: Bool

    public init(_ code: ErrorCode, detail: String? = nil) {
        self.code = code
        self.message = code.message
        self.detail = detail
        self.retryable = code.isRetryable
    }

    public var description: String {
        if let detail, !detail.isEmpty { return "\(message) (\(code.rawValue): \(detail))" }
        return "\(message) (\(code.rawValue))"
    }
}

/// The JSON envelope of an error response.
public struct ErrorEnvelope: Codable, Sendable {
    public var error: APIError
    public init(error: APIError) { self.error = error }
}
