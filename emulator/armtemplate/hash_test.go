package armtemplate

import (
	"regexp"
	"testing"
)

func TestUniqueStringVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"aaa"}, "zavj67f3en4hc"},
		{[]string{"bbb"}, "w5eragfxe33cy"},
		{[]string{"zzz"}, "cryksdzzzawae"},
		{[]string{"xxx", "yyy", "zzz"}, "lghi7k5js7itq"},
		{[]string{"/subscriptions/31e9f9a0-9fd2-4294-a0a3-0101246d9700/resourceGroups/rg-modm201-20230913120256/providers/Microsoft.Compute/virtualMachines/bobjacmodm201"}, "yvjxno3je5on2"},
		{[]string{"test"}, "rbgf3xv4ufgzg"},
		{[]string{"hello", "world"}, "a7wkljktk6wne"},
		{[]string{"abc"}, "cgtzqvhu4i23s"},
		{[]string{"foo", "bar", "baz"}, "xzi4ioaxtmth4"},
	}
	for _, tt := range tests {
		if got := UniqueString(tt.args...); got != tt.want {
			t.Errorf("UniqueString(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

// Joining with '-' is part of the algorithm: the two-argument form must
// equal the one-argument form of the joined text.
func TestUniqueStringJoinsWithHyphen(t *testing.T) {
	t.Parallel()
	if a, b := UniqueString("hello", "world"), UniqueString("hello-world"); a != b {
		t.Fatalf("UniqueString(hello, world) = %q, UniqueString(hello-world) = %q", a, b)
	}
	shape := regexp.MustCompile(`^[a-z2-7]{12}[acegikmoqsuwy246]$`)
	for _, s := range []string{"", "a", "ab", "abcdefg", "abcdefgh", "abcdefghi", "日本語"} {
		if got := UniqueString(s); !shape.MatchString(got) {
			t.Errorf("UniqueString(%q) = %q has the wrong shape", s, got)
		}
	}
}

func TestGuid(t *testing.T) {
	t.Parallel()
	// Reference values computed independently with Python:
	// str(uuid.uuid5(uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830"), "-".join(args))).
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"a"}, "3703365d-5a9f-59b4-bca7-b9681389e4c1"},
		{[]string{"a", "b", "c"}, "a98fa280-e03f-5afa-8d8e-92d0a9c201e8"},
	}
	for _, tt := range tests {
		if got := Guid(tt.args...); got != tt.want {
			t.Errorf("Guid(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
	if Guid("a", "b") != Guid("a-b") {
		t.Error("Guid does not join its arguments with '-'")
	}
}
