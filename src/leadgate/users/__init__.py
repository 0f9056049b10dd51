"""People who sign in to the web app: users with a role (admin, marketing, sales) and
optionally the sales rep whose queue they work, Argon2-hashed passwords, server-side
sessions, and the sign-in rate limit.

    from leadgate.users import Users
    user, password = Users(db).add("anna", "sales", rep="anna")

`service.py` holds the store access, `passwords.py` the hashing; `http.py` the admin
API (`/api/v1/users`). The web app (`leadgate.web`) signs people in with these.
"""

from leadgate.users.service import (
    ROLES,
    LoginRefused,
    Session,
    User,
    UserNotFound,
    Users,
    csrf_matches,
)

__all__ = ["ROLES", "LoginRefused", "Session", "User", "UserNotFound", "Users", "csrf_matches"]
