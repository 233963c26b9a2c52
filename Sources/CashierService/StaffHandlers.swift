import CashierCore
import CashierStorage
import HTTPServer

extension CashierService {
    /// `POST /v1/staff/sign-in`: who is signing in at the terminal, by their staff PIN (any role). Nothing
    /// is written but the wrong-PIN count: the terminal keeps who is signed in and names them on what
    /// they do.
    func staffSignIn(_ request: HTTPRequest, auth: AuthenticatedDevice, now: Int64) throws -> Reply {
        let body = try decode(StaffSignInRequest.self, request)
        let staff = try checkStaffPIN(body.pin, store: auth.store, device: auth.device, now: now, supervisorOnly: false)
        return .json(StaffSignInResponse(staff: StaffView(staffId: staff.id, name: staff.name, role: staff.role.rawValue)))
    }
}
