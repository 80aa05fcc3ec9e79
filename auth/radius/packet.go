package radius

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// Attribute types handled by their number: layeh.com/radius computes neither
// Message-Authenticator nor anything about it, so the server finds it in the raw bytes.
const (
	typeProxyState           = radius.Type(33)
	typeMessageAuthenticator = radius.Type(80)
	messageAuthenticatorLen  = 16
	headerLen                = 20
)

// errMalformed is a packet that is no RADIUS packet: too short, a length field that does not
// fit, or attributes that run over the end.
var errMalformed = errors.New("malformed packet")

// checkMessageAuthenticator looks for Message-Authenticator (RFC 3579 §3.2) in the raw
// packet and checks it: HMAC-MD5 under the shared secret over the whole packet with the
// attribute's value zeroed. found tells whether the packet carries one; valid whether it is
// the only one and right. It works on the bytes as they came: re-encoding a parsed packet
// could change them (attribute order, padding after Length), and the HMAC covers the bytes.
func checkMessageAuthenticator(raw, secret []byte) (found, valid bool, err error) {
	packet, err := packetBytes(raw)
	if err != nil {
		return false, false, err
	}
	at := -1
	for off := headerLen; off < len(packet); {
		if len(packet)-off < 2 {
			return false, false, errMalformed
		}
		typ, length := packet[off], int(packet[off+1])
		if length < 2 || off+length > len(packet) {
			return false, false, errMalformed
		}
		if radius.Type(typ) == typeMessageAuthenticator {
			if at >= 0 || length != 2+messageAuthenticatorLen {
				// Two of them, or one of the wrong size: nothing a real client sends.
				return true, false, nil
			}
			at = off + 2
		}
		off += length
	}
	if at < 0 {
		return false, false, nil
	}
	zeroed := make([]byte, len(packet))
	copy(zeroed, packet)
	clear(zeroed[at : at+messageAuthenticatorLen])
	mac := hmac.New(md5.New, secret)
	mac.Write(zeroed)
	return true, hmac.Equal(mac.Sum(nil), packet[at:at+messageAuthenticatorLen]), nil
}

// packetBytes returns the packet without what follows its Length (RFC 2865 §3: octets
// beyond it are padding and ignored), or errMalformed.
func packetBytes(raw []byte) ([]byte, error) {
	if len(raw) < headerLen {
		return nil, errMalformed
	}
	length := int(binary.BigEndian.Uint16(raw[2:4]))
	if length < headerLen || length > radius.MaxPacketLength || length > len(raw) {
		return nil, errMalformed
	}
	return raw[:length], nil
}

// encodeResponse signs and encodes a response (Access-Accept, -Reject, -Challenge) to the
// request whose authenticator resp carries (radius.Packet.Response copies it). It puts
// Message-Authenticator first, before any attribute an attacker can influence (Proxy-State,
// BlastRADIUS), computes it over the packet with the request's authenticator in the header,
// and only then the Response Authenticator over the finished attributes.
func encodeResponse(resp *radius.Packet) ([]byte, error) {
	resp.Attributes.Del(typeMessageAuthenticator)
	resp.Attributes = append(radius.Attributes{{Type: typeMessageAuthenticator, Attribute: make(radius.Attribute, messageAuthenticatorLen)}},
		resp.Attributes...)
	unsigned, err := resp.MarshalBinary() // the request authenticator in the header, no hashing
	if err != nil {
		return nil, fmt.Errorf("encode %v: %w", resp.Code, err)
	}
	mac := hmac.New(md5.New, resp.Secret)
	mac.Write(unsigned)
	resp.Attributes[0].Attribute = mac.Sum(nil)
	encoded, err := resp.Encode()
	if err != nil {
		return nil, fmt.Errorf("encode %v: %w", resp.Code, err)
	}
	return encoded, nil
}

// password decrypts User-Password (RFC 2865 §5.2). ok is false when the packet has none or
// it is not a valid hidden password (wrong length).
func password(p *radius.Packet) (string, bool) {
	hidden, found := p.Lookup(rfc2865.UserPassword_Type)
	if !found {
		return "", false
	}
	plain, err := radius.UserPassword(hidden, p.Secret, p.Authenticator[:])
	if err != nil {
		return "", false
	}
	return string(plain), true
}
