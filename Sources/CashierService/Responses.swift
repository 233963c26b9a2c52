import CashierCore
import HTTPServer

/// What a handler produced before signing: status, JSON body and extra headers.
struct Reply {
    var status: Int
    var body: [UInt8]
    var headers: [(String, String)] = []
    /// The error code, for logs and metrics.
    var errorCode: ErrorCode?
    /// The order group touched, for logs.
    var group: Int?
    var hops: Int?

    static func json<T: Encodable>(_ value: T, status: Int = 200) -> Reply {
        Reply(status: status, body: API.encode(value), headers: [("Content-Type", "application/json")])
    }

    static func error(_ error: APIError) -> Reply {
        var reply = Reply(status: error.code.httpStatus, body: API.encode(ErrorEnvelope(error: error)),
                          headers: [("Content-Type", "application/json")])
        reply.errorCode = error.code
        if error.code == .overloaded || error.code == .groupUnavailable || error.code == .noGroupAvailable {
            reply.headers.append(("Retry-After", "1"))
        } else if error.code == .rateLimited || error.code == .pinLocked {
            reply.headers.append(("Retry-After", "60"))
        }
        return reply
    }

    static func error(_ code: ErrorCode, _ detail: String? = nil) -> Reply { .error(APIError(code, detail: detail)) }

    static func text(_ text: String, contentType: String = "text/plain; charset=utf-8") -> Reply {
        Reply(status: 200, body: Array(text.utf8), headers: [("Content-Type", contentType)])
    }
}

/// Thrown inside handlers to end with an error reply.
struct Refusal: Error {
    var error: APIError
    /// The device whose key signs this refusal, when the request's own signature was good.
    var signedFor: AuthenticatedDevice?
    init(_ code: ErrorCode, _ detail: String? = nil, signedFor: AuthenticatedDevice? = nil) {
        error = APIError(code, detail: detail)
        self.signedFor = signedFor
    }
}
