package ldap

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-ldap/ldap/v3"

	"github.com/behorig/behorig/connectors"
)

// SetPassword sets the entry's password with the Password Modify extended operation (RFC
// 3062), as an administrator resetting it: no old password. The directory hashes the new
// one under its own scheme and checks it against its password policy (OpenLDAP's ppolicy
// with pwdCheckQuality; AD's complexity rules), which is why behorig binds as a service
// account and not as the rootdn, whom ppolicy exempts. A refusal under the policy is a
// *connectors.PasswordRefusedError with the directory's diagnostic message; the password
// itself is in no error and no log line.
func (d *Directory) SetPassword(ctx context.Context, dn, password string) error {
	if _, err := ldap.ParseDN(dn); err != nil || dn == "" {
		return fmt.Errorf("set password of %q: not a DN", dn)
	}
	if password == "" {
		// An empty new password asks the server to make one up (RFC 3062 §2), which nobody
		// would ever see.
		return &connectors.PasswordRefusedError{Reason: "empty password"}
	}
	err := d.do(ctx, func(conn *ldap.Conn) error {
		_, err := conn.PasswordModify(ldap.NewPasswordModifyRequest(dn, "", password))
		return err
	})
	var lerr *ldap.Error
	switch {
	case err == nil:
		return nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return fmt.Errorf("set password of %s: %w", dn, connectors.ErrNotFound)
	case errors.As(err, &lerr) && lerr.ResultCode == ldap.LDAPResultConstraintViolation:
		// ppolicy answers 19 with "Password fails quality checking policy", "Password is in
		// history of old passwords", "Password is too young to change"; AD answers 19 too.
		reason := "constraint violation"
		if lerr.Err != nil && lerr.Err.Error() != "" {
			reason = lerr.Err.Error()
		}
		return &connectors.PasswordRefusedError{Reason: reason}
	}
	return fmt.Errorf("set password of %s: %w", dn, err)
}
