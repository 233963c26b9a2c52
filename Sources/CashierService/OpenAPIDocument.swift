/// The OpenAPI 3 document served at `/openapi.json`; generated from Resources/openapi.json by
/// scripts/gen-openapi.sh, and checked against it by a test.
enum OpenAPIDocument {
    static let json = #"""
{
 "openapi": "3.0.3",
 "info": {
  "title": "cashierd API",
  "version": "1.0.0",
  "description": "The cashier service API. Every /v1 call except /v1/activate is signed (see docs/PROTOCOL.md): with Ed25519 under the terminal's private key for a device activated with a public key, with HMAC-SHA256 under the device secret for one activated before public keys; the scheme is the one of the key the service stored for the device. Every signed call's response is signed too (Ed25519 with the service's key, or HMAC-SHA256 with the secret). Amounts are integers in minor units."
 },
 "paths": {
  "/healthz": {
   "get": {
    "summary": "Health and order-group state (unsigned)",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/HealthResponse"
        }
       }
      }
     },
     "503": {
      "description": "Down: no order group takes orders, or the base data cannot be written",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/HealthResponse"
        }
       }
      }
     }
    }
   }
  },
  "/metrics": {
   "get": {
    "summary": "Prometheus metrics (unsigned)",
    "responses": {
     "200": {
      "description": "Prometheus text format",
      "content": {
       "text/plain": {
        "schema": {
         "type": "string"
        }
       }
      }
     }
    }
   }
  },
  "/openapi.json": {
   "get": {
    "summary": "This document",
    "responses": {
     "200": {
      "description": "OpenAPI document"
     }
    }
   }
  },
  "/v1/activate": {
   "post": {
    "summary": "Redeem an activation code for a device id; with a public key the service keeps only that key",
    "parameters": [
     {
      "$ref": "#/components/parameters/Nonce"
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/ActivateRequest"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "KeyActivationResponse when public_key was sent, else ActivateResponse",
      "content": {
       "application/json": {
        "schema": {
         "oneOf": [
          {
           "$ref": "#/components/schemas/KeyActivationResponse"
          },
          {
           "$ref": "#/components/schemas/ActivateResponse"
          }
         ]
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   }
  },
  "/v1/ping": {
   "get": {
    "summary": "Cheapest signed call; used by terminals to probe domains",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/PingResponse"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   }
  },
  "/v1/device/rotate-key": {
   "post": {
    "summary": "Replace the device's key with a new Ed25519 public key; signed with the current key, which is refused from the answer on",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/RotateKeyRequest"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "Rotated; the answer is signed with the old key",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/RotateKeyResponse"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   }
  },
  "/v1/orders": {
   "post": {
    "summary": "Create an order (lands in any healthy DB group)",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/CreateOrderRequest"
       }
      }
     }
    },
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/OrderView"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   },
   "get": {
    "summary": "The store's orders across all groups, newest first",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     },
     {
      "name": "limit",
      "in": "query",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 100,
       "default": 20
      }
     },
     {
      "name": "cursor",
      "in": "query",
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/OrderListResponse"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   }
  },
  "/v1/orders/{order_no}": {
   "get": {
    "summary": "Query an order (a payment under way is checked with the channel)",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     },
     {
      "name": "order_no",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "pattern": "^[0-9]{23}$"
      },
      "description": "23-digit order number; digits 21-22 are the DB group, digit 23 a Luhn check digit"
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/OrderView"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   }
  },
  "/v1/orders/{order_no}/pay": {
   "post": {
    "summary": "Pay with the customer's payment code; never charges twice",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     },
     {
      "name": "order_no",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "pattern": "^[0-9]{23}$"
      },
      "description": "23-digit order number; digits 21-22 are the DB group, digit 23 a Luhn check digit"
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/PayRequest"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/OrderView"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   }
  },
  "/v1/orders/{order_no}/reverse": {
   "post": {
    "summary": "Cancel an unpaid, unclear or timed-out payment",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     },
     {
      "name": "order_no",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "pattern": "^[0-9]{23}$"
      },
      "description": "23-digit order number; digits 21-22 are the DB group, digit 23 a Luhn check digit"
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/OrderView"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   }
  },
  "/v1/orders/{order_no}/refunds": {
   "post": {
    "summary": "Refund part or all of a paid order (supervisor PIN; idempotent by refund_ref)",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     },
     {
      "name": "order_no",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "pattern": "^[0-9]{23}$"
      },
      "description": "23-digit order number; digits 21-22 are the DB group, digit 23 a Luhn check digit"
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/RefundRequest"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/RefundResponse"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   }
  },
  "/v1/order-numbers": {
   "post": {
    "summary": "Numbers for one-call sales, in groups that take orders now",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/OrderNumbersRequest"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/OrderNumbersResponse"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   }
  },
  "/v1/sales": {
   "post": {
    "summary": "A one-call sale: place, claim and pay the order in one request; idempotent by order_no",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/SaleRequest"
       }
      }
     }
    },
    "responses": {
     "201": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SaleResponse"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     },
     "200": {
      "description": "The sale was there already (sent again); the order as it stands",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SaleResponse"
        }
       }
      }
     }
    }
   }
  },
  "/v1/staff/sign-in": {
   "post": {
    "summary": "Sign a member of the store's staff in at the terminal with their PIN (wrong PINs count as for refunds)",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/StaffSignInRequest"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/StaffSignInResponse"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   }
  },
  "/v1/shifts": {
   "post": {
    "summary": "Open a shift at this terminal with its opening float (one at a time; the same open again answers that shift)",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/OpenShiftRequest"
       }
      }
     }
    },
    "responses": {
     "201": {
      "description": "Opened",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ShiftResponse"
        }
       }
      }
     },
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ShiftResponse"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   }
  },
  "/v1/shifts/current": {
   "get": {
    "summary": "This terminal's open shift with its X report",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ShiftResponse"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   }
  },
  "/v1/shifts/{shift_id}": {
   "get": {
    "summary": "A shift of this store: its X report while open, its Z report once closed",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     },
     {
      "name": "shift_id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "pattern": "^[A-Za-z0-9_-]{1,64}$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ShiftResponse"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   }
  },
  "/v1/shifts/{shift_id}/close": {
   "post": {
    "summary": "Close the shift with the counted cash; answers its numbered Z report (made once)",
    "parameters": [
     {
      "$ref": "#/components/parameters/Device"
     },
     {
      "$ref": "#/components/parameters/Timestamp"
     },
     {
      "$ref": "#/components/parameters/Nonce"
     },
     {
      "$ref": "#/components/parameters/Signature"
     },
     {
      "name": "shift_id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "pattern": "^[A-Za-z0-9_-]{1,64}$"
      }
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/CloseShiftRequest"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ShiftResponse"
        }
       }
      }
     },
     "default": {
      "description": "Error; see the error code catalogue",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ErrorEnvelope"
        }
       }
      }
     }
    }
   }
  }
 },
 "components": {
  "parameters": {
   "Device": {
    "name": "X-Cashier-Device",
    "in": "header",
    "required": true,
    "schema": {
     "type": "string",
     "pattern": "^[A-Za-z0-9_-]{1,64}$"
    }
   },
   "Timestamp": {
    "name": "X-Cashier-Timestamp",
    "in": "header",
    "required": true,
    "schema": {
     "type": "string",
     "pattern": "^(0|[1-9][0-9]{0,18})$"
    },
    "description": "Unix seconds in decimal digits, no sign, no leading zero; within 300 s of the service clock"
   },
   "Nonce": {
    "name": "X-Cashier-Nonce",
    "in": "header",
    "required": true,
    "schema": {
     "type": "string",
     "pattern": "^[A-Za-z0-9_-]{16,64}$"
    }
   },
   "Signature": {
    "name": "X-Cashier-Signature",
    "in": "header",
    "required": true,
    "schema": {
     "type": "string",
     "pattern": "^([0-9a-f]{64}|[0-9a-f]{128})$"
    },
    "description": "Lower-case hex: 128 digits (Ed25519, 64 bytes) for a device with a public key, 64 (HMAC-SHA256) for one with a secret"
   }
  },
  "schemas": {
   "ErrorEnvelope": {
    "type": "object",
    "required": [
     "error"
    ],
    "properties": {
     "error": {
      "type": "object",
      "required": [
       "code",
       "message",
       "retryable"
      ],
      "properties": {
       "code": {
        "type": "string",
        "enum": [
         "MALFORMED_REQUEST",
         "INVALID_FIELD",
         "BODY_TOO_LARGE",
         "NOT_FOUND",
         "METHOD_NOT_ALLOWED",
         "HTTP_MALFORMED",
         "URI_TOO_LONG",
         "HEADERS_TOO_LARGE",
         "HTTP_VERSION_NOT_SUPPORTED",
         "SIGNATURE_MISSING",
         "DEVICE_UNKNOWN",
         "DEVICE_REVOKED",
         "SIGNATURE_INVALID",
         "TIMESTAMP_SKEWED",
         "NONCE_REPLAYED",
         "ACTIVATION_CODE_INVALID",
         "ACTIVATION_CODE_USED",
         "ACTIVATION_CODE_EXPIRED",
         "RATE_LIMITED",
         "ORDER_NOT_FOUND",
         "ORDER_OTHER_STORE",
         "ORDER_NOT_PAYABLE",
         "PAYMENT_UNDER_WAY",
         "ORDER_NOT_PAID",
         "ORDER_NOT_REVERSIBLE",
         "PAYMENT_CODE_INVALID",
         "CHANNEL_NOT_CONFIGURED",
         "AMOUNT_INVALID",
         "REFUND_EXCEEDS_PAID",
         "REFUND_LIMIT_REACHED",
         "PIN_INVALID",
         "PIN_NOT_SUPERVISOR",
         "PIN_LOCKED",
         "IDEMPOTENCY_CONFLICT",
         "REFUND_REFUSED",
         "STAFF_UNKNOWN",
         "SHIFT_NOT_FOUND",
         "SHIFT_ALREADY_OPEN",
         "SHIFT_UNSETTLED",
         "SUPERVISOR_REQUIRED",
         "GROUP_UNAVAILABLE",
         "NO_GROUP_AVAILABLE",
         "OVERLOADED",
         "CHANNEL_UNAVAILABLE",
         "BASE_UNAVAILABLE",
         "INTERNAL"
        ]
       },
       "message": {
        "type": "string"
       },
       "detail": {
        "type": "string"
       },
       "retryable": {
        "type": "boolean"
       }
      }
     }
    }
   },
   "ActivateRequest": {
    "type": "object",
    "required": [
     "code"
    ],
    "properties": {
     "code": {
      "type": "string",
      "description": "e.g. WDJB-MJHT; dashes, spaces and case ignored"
     },
     "device_name": {
      "type": "string",
      "maxLength": 64,
      "description": "Lengths count Unicode code points; control characters (U+0000-U+001F, U+007F-U+009F) are refused."
     },
     "public_key": {
      "type": "string",
      "pattern": "^[0-9a-f]{64}$",
      "description": "The terminal's Ed25519 public key, 32 bytes as 64 lower-case hex digits; without it the service makes a shared secret (terminals from before public keys)"
     }
    }
   },
   "StoreInfo": {
    "type": "object",
    "properties": {
     "store_id": {
      "type": "string"
     },
     "store_name": {
      "type": "string"
     },
     "merchant_id": {
      "type": "string"
     },
     "merchant_name": {
      "type": "string"
     },
     "currency": {
      "type": "string"
     },
     "time_zone": {
      "type": "string",
      "description": "The store's time zone, an IANA name such as Asia/Shanghai: times people read (screens, receipts) are shown in it; absent from services before store time zones (then UTC). The wire keeps UTC milliseconds."
     }
    }
   },
   "ActivateResponse": {
    "type": "object",
    "properties": {
     "device_id": {
      "type": "string"
     },
     "device_secret": {
      "type": "string",
      "description": "64 hex characters; sent once"
     },
     "store": {
      "$ref": "#/components/schemas/StoreInfo"
     }
    },
    "description": "The answer to an activation without public_key (a shared secret)"
   },
   "KeyActivationResponse": {
    "type": "object",
    "description": "The answer to an activation with public_key: the service keeps no secret for the device",
    "properties": {
     "device_id": {
      "type": "string"
     },
     "service_public_key": {
      "type": "string",
      "pattern": "^[0-9a-f]{64}$",
      "description": "The service's Ed25519 public key: it signs every later answer to this device"
     },
     "store": {
      "$ref": "#/components/schemas/StoreInfo"
     }
    }
   },
   "PingResponse": {
    "type": "object",
    "properties": {
     "instance": {
      "type": "string"
     },
     "time": {
      "type": "integer",
      "format": "int64"
     },
     "device_id": {
      "type": "string"
     },
     "store": {
      "$ref": "#/components/schemas/StoreInfo"
     },
     "service_public_key": {
      "type": "string",
      "pattern": "^[0-9a-f]{64}$",
      "description": "The service's Ed25519 public key"
     }
    }
   },
   "RotateKeyRequest": {
    "type": "object",
    "required": [
     "public_key"
    ],
    "properties": {
     "public_key": {
      "type": "string",
      "pattern": "^[0-9a-f]{64}$",
      "description": "The new Ed25519 public key, 64 lower-case hex digits"
     }
    }
   },
   "RotateKeyResponse": {
    "type": "object",
    "properties": {
     "device_id": {
      "type": "string"
     },
     "service_public_key": {
      "type": "string",
      "pattern": "^[0-9a-f]{64}$",
      "description": "The service's Ed25519 public key: it signs every answer to the device from now on"
     }
    }
   },
   "OrderItem": {
    "type": "object",
    "required": [
     "name",
     "quantity",
     "unit_price"
    ],
    "properties": {
     "sku": {
      "type": "string",
      "description": "Lengths count Unicode code points; control characters (U+0000-U+001F, U+007F-U+009F) are refused."
     },
     "name": {
      "type": "string",
      "description": "Lengths count Unicode code points; control characters (U+0000-U+001F, U+007F-U+009F) are refused."
     },
     "quantity": {
      "type": "integer",
      "minimum": 1,
      "maximum": 9999
     },
     "unit_price": {
      "type": "integer",
      "format": "int64"
     },
     "discount": {
      "type": "integer",
      "format": "int64",
      "minimum": 0,
      "description": "taken off the line, at most quantity × unit_price; the line comes to quantity × unit_price - discount"
     }
    }
   },
   "CreateOrderRequest": {
    "type": "object",
    "required": [
     "amount"
    ],
    "properties": {
     "amount": {
      "type": "integer",
      "format": "int64",
      "minimum": 1,
      "maximum": 9999999999
     },
     "currency": {
      "type": "string"
     },
     "items": {
      "type": "array",
      "maxItems": 200,
      "items": {
       "$ref": "#/components/schemas/OrderItem"
      }
     },
     "client_ref": {
      "type": "string",
      "maxLength": 64,
      "description": "Lengths count Unicode code points; control characters (U+0000-U+001F, U+007F-U+009F) are refused."
     },
     "staff_id": {
      "type": "string",
      "pattern": "^[A-Za-z0-9_-]{1,64}$",
      "description": "who rang the sale up (recorded as sent)"
     },
     "shift_id": {
      "type": "string",
      "pattern": "^[A-Za-z0-9_-]{1,64}$",
      "description": "the shift the sale counts in (recorded as sent)"
     }
    }
   },
   "PayRequest": {
    "type": "object",
    "required": [
     "payment_code"
    ],
    "properties": {
     "payment_code": {
      "type": "string",
      "pattern": "^1[0-5][0-9]{16}$"
     }
    }
   },
   "RefundRequest": {
    "type": "object",
    "required": [
     "amount",
     "refund_ref",
     "pin"
    ],
    "properties": {
     "amount": {
      "type": "integer",
      "format": "int64",
      "minimum": 1,
      "maximum": 9999999999
     },
     "refund_ref": {
      "type": "string",
      "pattern": "^[A-Za-z0-9_-]{1,64}$"
     },
     "pin": {
      "type": "string",
      "format": "password"
     },
     "reason": {
      "type": "string",
      "maxLength": 200,
      "description": "Lengths count Unicode code points; control characters (U+0000-U+001F, U+007F-U+009F) are refused."
     },
     "staff_id": {
      "type": "string",
      "pattern": "^[A-Za-z0-9_-]{1,64}$",
      "description": "the staff member signed in at the terminal"
     },
     "shift_id": {
      "type": "string",
      "pattern": "^[A-Za-z0-9_-]{1,64}$",
      "description": "the shift the refund counts in"
     }
    }
   },
   "RefundView": {
    "type": "object",
    "properties": {
     "refund_no": {
      "type": "string"
     },
     "order_no": {
      "type": "string"
     },
     "amount": {
      "type": "integer",
      "format": "int64"
     },
     "currency": {
      "type": "string"
     },
     "refund_ref": {
      "type": "string"
     },
     "status": {
      "type": "string",
      "enum": [
       "pending",
       "succeeded"
      ]
     },
     "created_at": {
      "type": "integer",
      "format": "int64"
     }
    }
   },
   "OrderView": {
    "type": "object",
    "properties": {
     "order_no": {
      "type": "string"
     },
     "store_id": {
      "type": "string"
     },
     "device_id": {
      "type": "string"
     },
     "amount": {
      "type": "integer",
      "format": "int64"
     },
     "currency": {
      "type": "string"
     },
     "status": {
      "type": "string",
      "enum": [
       "created",
       "paying",
       "paid",
       "declined",
       "reversed",
       "closed"
      ]
     },
     "refunded_amount": {
      "type": "integer",
      "format": "int64"
     },
     "items": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/OrderItem"
      }
     },
     "client_ref": {
      "type": "string"
     },
     "created_at": {
      "type": "integer",
      "format": "int64"
     },
     "updated_at": {
      "type": "integer",
      "format": "int64"
     },
     "paid_at": {
      "type": "integer",
      "format": "int64"
     },
     "channel_txn": {
      "type": "string"
     },
     "failure": {
      "type": "object",
      "properties": {
       "reason": {
        "type": "string"
       },
       "message": {
        "type": "string"
       }
      }
     },
     "pending": {
      "type": "string",
      "enum": [
       "USER_CONFIRMING",
       "UNKNOWN"
      ]
     },
     "refunds": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/RefundView"
      }
     },
     "tender": {
      "type": "string",
      "enum": [
       "code",
       "cash"
      ],
      "description": "absent: code"
     },
     "cash_given": {
      "type": "integer",
      "format": "int64"
     },
     "staff_id": {
      "type": "string"
     },
     "shift_id": {
      "type": "string"
     }
    }
   },
   "RefundResponse": {
    "type": "object",
    "properties": {
     "refund": {
      "$ref": "#/components/schemas/RefundView"
     },
     "order": {
      "$ref": "#/components/schemas/OrderView"
     }
    }
   },
   "OrderSummary": {
    "type": "object",
    "properties": {
     "order_no": {
      "type": "string"
     },
     "amount": {
      "type": "integer",
      "format": "int64"
     },
     "currency": {
      "type": "string"
     },
     "status": {
      "type": "string"
     },
     "refunded_amount": {
      "type": "integer",
      "format": "int64"
     },
     "created_at": {
      "type": "integer",
      "format": "int64"
     },
     "device_id": {
      "type": "string"
     }
    }
   },
   "OrderListResponse": {
    "type": "object",
    "properties": {
     "orders": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/OrderSummary"
      }
     },
     "next_cursor": {
      "type": "string"
     },
     "unavailable_groups": {
      "type": "array",
      "items": {
       "type": "integer"
      }
     }
    }
   },
   "HealthResponse": {
    "type": "object",
    "properties": {
     "status": {
      "type": "string",
      "enum": [
       "ok",
       "degraded",
       "down"
      ]
     },
     "instance": {
      "type": "string"
     },
     "time": {
      "type": "integer",
      "format": "int64"
     },
     "groups": {
      "type": "array",
      "items": {
       "type": "object",
       "properties": {
        "group": {
         "type": "integer"
        },
        "accepting": {
         "type": "boolean"
        },
        "recent_failures": {
         "type": "number"
        }
       }
      }
     },
     "base": {
      "type": "string",
      "enum": [
       "ok",
       "unavailable"
      ],
      "description": "whether the base data takes writes; \"unavailable\" makes status \"down\" (answered 503)"
     }
    }
   },
   "OrderNumbersRequest": {
    "type": "object",
    "required": [
     "count"
    ],
    "properties": {
     "count": {
      "type": "integer",
      "minimum": 1,
      "maximum": 20
     }
    }
   },
   "OrderNumbersResponse": {
    "type": "object",
    "required": [
     "order_numbers",
     "valid_until"
    ],
    "properties": {
     "order_numbers": {
      "type": "array",
      "items": {
       "type": "string",
       "pattern": "^[0-9]{23}$",
       "description": "an order number (23 digits, Luhn check digit)"
      }
     },
     "valid_until": {
      "type": "integer",
      "format": "int64"
     }
    }
   },
   "SaleRequest": {
    "type": "object",
    "required": [
     "order_no",
     "amount"
    ],
    "properties": {
     "order_no": {
      "type": "string",
      "pattern": "^[0-9]{23}$",
      "description": "a number this terminal holds and has used for no other sale"
     },
     "amount": {
      "type": "integer",
      "format": "int64",
      "minimum": 1,
      "maximum": 9999999999
     },
     "currency": {
      "type": "string"
     },
     "items": {
      "type": "array",
      "maxItems": 200,
      "items": {
       "$ref": "#/components/schemas/OrderItem"
      }
     },
     "client_ref": {
      "type": "string",
      "maxLength": 64,
      "description": "Lengths count Unicode code points; control characters (U+0000-U+001F, U+007F-U+009F) are refused."
     },
     "payment_code": {
      "type": "string",
      "description": "the customer payment code as scanned; required for tender code, absent for cash"
     },
     "reserve": {
      "type": "integer",
      "minimum": 0,
      "maximum": 5,
      "description": "fresh numbers wanted in the answer"
     },
     "tender": {
      "type": "string",
      "enum": [
       "code",
       "cash"
      ],
      "default": "code",
      "description": "cash: placed paid in the same commit, no channel called"
     },
     "cash_given": {
      "type": "integer",
      "format": "int64",
      "minimum": 1,
      "maximum": 9999999999,
      "description": "cash only: what the customer handed over, at least amount"
     },
     "staff_id": {
      "type": "string",
      "pattern": "^[A-Za-z0-9_-]{1,64}$",
      "description": "who rang the sale up (recorded as sent)"
     },
     "shift_id": {
      "type": "string",
      "pattern": "^[A-Za-z0-9_-]{1,64}$",
      "description": "the shift the sale counts in (recorded as sent)"
     }
    }
   },
   "SaleResponse": {
    "type": "object",
    "required": [
     "order",
     "order_numbers"
    ],
    "properties": {
     "order": {
      "$ref": "#/components/schemas/OrderView"
     },
     "order_numbers": {
      "type": "array",
      "items": {
       "type": "string",
       "pattern": "^[0-9]{23}$",
       "description": "an order number (23 digits, Luhn check digit)"
      }
     }
    }
   },
   "StaffSignInRequest": {
    "type": "object",
    "required": [
     "pin"
    ],
    "properties": {
     "pin": {
      "type": "string",
      "description": "The staff PIN, 4 to 12 digits"
     }
    }
   },
   "StaffView": {
    "type": "object",
    "required": [
     "staff_id",
     "name",
     "role"
    ],
    "properties": {
     "staff_id": {
      "type": "string"
     },
     "name": {
      "type": "string"
     },
     "role": {
      "type": "string",
      "enum": [
       "cashier",
       "supervisor"
      ]
     }
    }
   },
   "StaffSignInResponse": {
    "type": "object",
    "required": [
     "staff"
    ],
    "properties": {
     "staff": {
      "$ref": "#/components/schemas/StaffView"
     }
    }
   },
   "OpenShiftRequest": {
    "type": "object",
    "required": [
     "staff_id",
     "opening_float"
    ],
    "properties": {
     "staff_id": {
      "type": "string",
      "pattern": "^[A-Za-z0-9_-]{1,64}$"
     },
     "opening_float": {
      "type": "integer",
      "format": "int64",
      "minimum": 0,
      "maximum": 9999999999,
      "description": "cash counted into the drawer, minor units"
     }
    }
   },
   "CloseShiftRequest": {
    "type": "object",
    "required": [
     "staff_id",
     "counted_cash"
    ],
    "properties": {
     "staff_id": {
      "type": "string",
      "pattern": "^[A-Za-z0-9_-]{1,64}$"
     },
     "counted_cash": {
      "type": "integer",
      "format": "int64",
      "minimum": 0,
      "maximum": 9999999999,
      "description": "all the cash in the drawer, float included"
     },
     "supervisor_pin": {
      "type": "string",
      "format": "password",
      "description": "needed when the difference is over limits.cash_difference_limit"
     }
    }
   },
   "ShiftView": {
    "type": "object",
    "required": [
     "shift_id",
     "store_id",
     "device_id",
     "status",
     "currency",
     "opening_float",
     "opened_at",
     "opened_by"
    ],
    "properties": {
     "shift_id": {
      "type": "string"
     },
     "store_id": {
      "type": "string"
     },
     "device_id": {
      "type": "string"
     },
     "status": {
      "type": "string",
      "enum": [
       "open",
       "closed"
      ]
     },
     "currency": {
      "type": "string"
     },
     "opening_float": {
      "type": "integer",
      "format": "int64"
     },
     "opened_at": {
      "type": "integer",
      "format": "int64"
     },
     "opened_by": {
      "$ref": "#/components/schemas/StaffView"
     },
     "closed_at": {
      "type": "integer",
      "format": "int64"
     },
     "closed_by": {
      "$ref": "#/components/schemas/StaffView"
     },
     "counted_cash": {
      "type": "integer",
      "format": "int64"
     },
     "z_number": {
      "type": "integer",
      "minimum": 1,
      "description": "per store, given once at close"
     }
    }
   },
   "TenderTotal": {
    "type": "object",
    "required": [
     "tender",
     "count",
     "amount"
    ],
    "properties": {
     "tender": {
      "type": "string",
      "description": "cash, wechatpay, alipay or sandbox"
     },
     "count": {
      "type": "integer"
     },
     "amount": {
      "type": "integer",
      "format": "int64"
     }
    }
   },
   "ShiftReport": {
    "type": "object",
    "required": [
     "kind",
     "shift",
     "generated_at",
     "sales",
     "refunds",
     "voids",
     "reversals",
     "declined",
     "unsettled",
     "cash_expected"
    ],
    "properties": {
     "kind": {
      "type": "string",
      "enum": [
       "X",
       "Z"
      ]
     },
     "shift": {
      "$ref": "#/components/schemas/ShiftView"
     },
     "generated_at": {
      "type": "integer",
      "format": "int64"
     },
     "sales": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/TenderTotal"
      }
     },
     "refunds": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/TenderTotal"
      }
     },
     "voids": {
      "type": "integer"
     },
     "reversals": {
      "type": "integer"
     },
     "declined": {
      "type": "integer"
     },
     "unsettled": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "cash_expected": {
      "type": "integer",
      "format": "int64"
     },
     "cash_counted": {
      "type": "integer",
      "format": "int64"
     },
     "cash_difference": {
      "type": "integer",
      "format": "int64"
     },
     "missing_groups": {
      "type": "array",
      "items": {
       "type": "integer"
      },
      "description": "X only: groups whose orders are missing"
     }
    }
   },
   "ShiftResponse": {
    "type": "object",
    "required": [
     "shift",
     "report"
    ],
    "properties": {
     "shift": {
      "$ref": "#/components/schemas/ShiftView"
     },
     "report": {
      "$ref": "#/components/schemas/ShiftReport"
     }
    }
   }
  }
 }
}
"""#
}
