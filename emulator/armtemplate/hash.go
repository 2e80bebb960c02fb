package armtemplate

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"strings"
)

// base32Alphabet is the lower-case RFC 4648 alphabet ARM uses for uniqueString.
const base32Alphabet = "abcdefghijklmnopqrstuvwxyz234567"

// UniqueString is ARM's uniqueString(): a 13-character lower-case base32
// rendering of Microsoft's 64-bit Murmur variant over the arguments joined
// with '-'. It must match Azure bit for bit, because templates derive
// resource names from it (the default Prefect template names its container
// uniqueString(resourceGroup().id)).
func UniqueString(args ...string) string {
	h := murmur64([]byte(strings.Join(args, "-")))
	var out [13]byte
	for i := range out {
		out[i] = base32Alphabet[h>>59]
		h <<= 5
	}
	return string(out[:])
}

// murmur64 runs two 32-bit MurmurHash3 lanes with the x86_128 constants,
// seed 0, as Azure's ResourceStack does; it is not the standard
// MurmurHash64A, whose results differ.
func murmur64(data []byte) uint64 {
	const (
		c1 = 0x239b961b
		c2 = 0xab0e9789
	)
	var h1, h2 uint32
	n := len(data)
	i := 0
	for ; i+7 < n; i += 8 {
		k1 := binary.LittleEndian.Uint32(data[i:])
		k2 := binary.LittleEndian.Uint32(data[i+4:])
		k1 *= c1
		k1 = bits.RotateLeft32(k1, 15)
		k1 *= c2
		h1 ^= k1
		h1 = bits.RotateLeft32(h1, 19)
		h1 += h2
		h1 = h1*5 + 0x561ccd1b
		k2 *= c2
		k2 = bits.RotateLeft32(k2, 17)
		k2 *= c1
		h2 ^= k2
		h2 = bits.RotateLeft32(h2, 13)
		h2 += h1
		h2 = h2*5 + 0x0bcaa747
	}
	if t := n - i; t > 0 {
		var k1 uint32
		for j := min(t, 4) - 1; j >= 0; j-- {
			k1 = k1<<8 | uint32(data[i+j])
		}
		k1 *= c1
		k1 = bits.RotateLeft32(k1, 15)
		k1 *= c2
		h1 ^= k1
		if t > 4 {
			var k2 uint32
			for j := t - 1; j >= 4; j-- {
				k2 = k2<<8 | uint32(data[i+j])
			}
			k2 *= c2
			k2 = bits.RotateLeft32(k2, 17)
			k2 *= c1
			h2 ^= k2
		}
	}
	h1 ^= uint32(n)
	h2 ^= uint32(n)
	h1 += h2
	h2 += h1
	h1 = fmix32(h1)
	h2 = fmix32(h2)
	h1 += h2
	h2 += h1
	return uint64(h2)<<32 | uint64(h1)
}

func fmix32(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// guidNamespace is the fixed namespace ARM's guid() hashes under.
var guidNamespace = [16]byte{0x11, 0xfb, 0x06, 0xfb, 0x71, 0x2d, 0x4d, 0xdd, 0x98, 0xc7, 0xe7, 0x1b, 0xbd, 0x58, 0x88, 0x30}

// Guid is ARM's guid(): a name-based version-5 UUID (RFC 4122 section 4.3,
// SHA-1) of the UTF-8 arguments joined with '-' under the namespace
// 11fb06fb-712d-4ddd-98c7-e71bbd588830. That is how independent
// re-implementations reproduce the role-assignment names real deployments
// produce; the engine itself is closed source.
func Guid(args ...string) string {
	h := sha1.New()
	h.Write(guidNamespace[:])
	h.Write([]byte(strings.Join(args, "-")))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}
