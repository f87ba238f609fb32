"""The codes of every error PyTake answers with (``pytake.errors`` renders them). A module of its
own, importing nothing: DRF's settings import the authentication classes, which need the codes."""

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every ``code`` the API, the webhook and the WebSocket answer with. Clients branch on these;
    they never change meaning once published."""

    # General
    ERROR = "error"  # nothing more specific applies
    INVALID = "invalid"  # a field or parameter is wrong: ``extra.fields`` names which
    NOT_FOUND = "not_found"  # missing, or not yours to see (the same answer for both)
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad_request"
    # From DRF and simplejwt, in the same shape
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    TOKEN_NOT_VALID = "token_not_valid"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    THROTTLED = "throttled"  # ``extra.retry_after`` in seconds
    PARSE_ERROR = "parse_error"
    # Sessions
    SIGNED_OUT = "signed_out"  # the token was revoked (logout everywhere, a password change)
    INVALID_TOKEN = "invalid_token"  # a refresh token that is expired or already signed out
    INVALID_CURSOR = "invalid_cursor"  # a page cursor this server did not hand out
    # Conversations and messages
    EMPTY_MESSAGE = "empty_message"
    MESSAGE_TOO_LONG = "message_too_long"
    INVALID_TYPE = "invalid_type"  # a message type that cannot be sent this way
    INVALID_TRANSITION = "invalid_transition"  # a status move the lifecycle does not allow
    OUTSIDE_WINDOW = "outside_window"  # WhatsApp's 24-hour window is closed: only a template
    # Interactive messages (Meta's limits: ``conversations.interactive``)
    TOO_MANY_BUTTONS = "too_many_buttons"  # more than 3 reply buttons
    BUTTON_TITLE_TOO_LONG = "button_title_too_long"  # a reply-button title over 20 characters
    BUTTON_TITLE_EMPTY = "button_title_empty"
    BUTTON_TITLE_DUPLICATE = "button_title_duplicate"  # titles must differ within a message
    LIST_ROW_TITLE_TOO_LONG = "list_row_title_too_long"  # a list row title over 24 characters
    TOO_MANY_LIST_ROWS = "too_many_list_rows"  # more than 10 rows in a list
    INTERACTIVE_BODY_TOO_LONG = "interactive_body_too_long"  # an interactive body over 1024 characters
    # Files (media messages)
    EMPTY_FILE = "empty_file"
    FILE_TOO_LARGE = "file_too_large"  # ``extra.max_bytes``, ``extra.kind``
    UNSUPPORTED_FILE_TYPE = "unsupported_file_type"  # content not one the channel carries
    FILE_TYPE_MISMATCH = "file_type_mismatch"  # the name or declared type lies about the content
    MEDIA_NOT_FAILED = "media_not_failed"  # only a failed download can be retried
    # Assignment
    INVALID_ASSIGNEE = "invalid_assignee"
    FORBIDDEN_ASSIGNMENT = "forbidden_assignment"  # agents take or hand back only
    ALREADY_ASSIGNED = "already_assigned"
    NOT_WAITING = "not_waiting"
    # Web chat
    INVALID_SESSION = "invalid_session"
    # WebSocket commands
    UNKNOWN_ACTION = "unknown_action"
    NOT_JOINED = "not_joined"
    TOO_MANY_JOINED = "too_many_joined"
    RATE_LIMITED = "rate_limited"
    # Meta's webhook
    VERIFICATION_FAILED = "verification_failed"
    UNKNOWN_ACCOUNT = "unknown_account"
    INVALID_SIGNATURE = "invalid_signature"
    INVALID_PAYLOAD = "invalid_payload"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    # The agent's toolbox
    UNKNOWN_VARIABLE = "unknown_variable"  # a saved reply names a variable PyTake cannot fill
    INVALID_ATTRIBUTE = "invalid_attribute"  # a custom attribute unknown, or its value not of its type
    # WhatsApp message templates and conversations the business starts
    TEMPLATE_NOT_FOUND = "template_not_found"  # no template of that name and language for the number
    TEMPLATE_NOT_APPROVED = "template_not_approved"  # pending, paused, rejected…: ``extra.status``
    INVALID_TEMPLATE_PARAMETERS = "invalid_template_parameters"  # ``extra.fields`` names each wrong one
    MARKETING_OPTED_OUT = "marketing_opted_out"  # the customer stopped marketing messages on WhatsApp
    INVALID_PHONE = "invalid_phone"  # not a phone number in international (E.164) form
    NO_TEMPLATES = "no_templates"  # the channel has no templates (web chat)
