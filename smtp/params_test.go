package smtp_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/postyard/postyard/smtp"
)

const paramsAll = smtp.ParamSize | smtp.ParamBody8BIT | smtp.ParamBodyBinary | smtp.ParamSMTPUTF8 |
	smtp.ParamRequireTLS | smtp.ParamDSN | smtp.ParamAuth

func TestParseMailParamsValid(t *testing.T) {
	tests := []struct {
		in      string
		allowed smtp.ParamSet
		want    smtp.MailOptions
	}{
		{"", 0, smtp.MailOptions{}},
		{"   ", 0, smtp.MailOptions{}},
		{"SIZE=12345", smtp.ParamSize, smtp.MailOptions{Size: 12345}},
		{"size=0", smtp.ParamSize, smtp.MailOptions{}},
		{"SIZE=007", smtp.ParamSize, smtp.MailOptions{Size: 7}},
		{"SIZE=9223372036854775807", smtp.ParamSize, smtp.MailOptions{Size: math.MaxInt64}},
		{"SIZE=9223372036854775808", smtp.ParamSize, smtp.MailOptions{Size: math.MaxInt64}},
		{"SIZE=99999999999999999999", smtp.ParamSize, smtp.MailOptions{Size: math.MaxInt64}},
		{"BODY=7BIT", smtp.ParamBody8BIT, smtp.MailOptions{Body: smtp.Body7Bit}},
		{"BODY=7bit", smtp.ParamBodyBinary, smtp.MailOptions{Body: smtp.Body7Bit}},
		{"BODY=8BITMIME", smtp.ParamBody8BIT, smtp.MailOptions{Body: smtp.Body8BitMIME}},
		{"body=8bitmime", smtp.ParamBody8BIT, smtp.MailOptions{Body: smtp.Body8BitMIME}},
		{"BODY=BINARYMIME", smtp.ParamBodyBinary, smtp.MailOptions{Body: smtp.BodyBinaryMIME}},
		{"SMTPUTF8", smtp.ParamSMTPUTF8, smtp.MailOptions{UTF8: true}},
		{"smtputf8", smtp.ParamSMTPUTF8, smtp.MailOptions{UTF8: true}},
		{"REQUIRETLS", smtp.ParamRequireTLS, smtp.MailOptions{RequireTLS: true}},
		{"RET=FULL", smtp.ParamDSN, smtp.MailOptions{Return: smtp.DSNReturnFull}},
		{"ret=hdrs", smtp.ParamDSN, smtp.MailOptions{Return: smtp.DSNReturnHeaders}},
		{"ENVID=QQ314159", smtp.ParamDSN, smtp.MailOptions{EnvelopeID: "QQ314159"}},
		{"ENVID=a+2Bb+3Dc+20d", smtp.ParamDSN, smtp.MailOptions{EnvelopeID: "a+b=c d"}},
		{"ENVID=a+2bb", smtp.ParamDSN, smtp.MailOptions{EnvelopeID: "a+b"}},
		{"ENVID=" + strings.Repeat("x", 100), smtp.ParamDSN, smtp.MailOptions{EnvelopeID: strings.Repeat("x", 100)}},
		{"ENVID=" + strings.Repeat("+41", 100), smtp.ParamDSN, smtp.MailOptions{EnvelopeID: strings.Repeat("A", 100)}},
		{"AUTH=<>", smtp.ParamAuth, smtp.MailOptions{Auth: "<>"}},
		{"AUTH=e+3Dmc2@example.com", smtp.ParamAuth, smtp.MailOptions{Auth: "e=mc2@example.com"}},
		{"AUTH=j+C3+B6ran@example.com", smtp.ParamAuth, smtp.MailOptions{Auth: "jöran@example.com"}},
		{"AUTH=jöran@example.com SMTPUTF8", paramsAll, smtp.MailOptions{Auth: "jöran@example.com", UTF8: true}},
		{
			"SIZE=1000 BODY=8BITMIME SMTPUTF8 REQUIRETLS RET=HDRS ENVID=id1 AUTH=a@b",
			paramsAll,
			smtp.MailOptions{Size: 1000, Body: smtp.Body8BitMIME, UTF8: true, RequireTLS: true, Return: smtp.DSNReturnHeaders, EnvelopeID: "id1", Auth: "a@b"},
		},
		{"  SIZE=1    BODY=7BIT  ", paramsAll, smtp.MailOptions{Size: 1, Body: smtp.Body7Bit}},
	}
	for _, tt := range tests {
		got, err := smtp.ParseMailParams(tt.in, tt.allowed)
		if err != nil || got != tt.want {
			t.Errorf("ParseMailParams(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseMailParamsInvalid(t *testing.T) {
	unknown, syntax := smtp.ErrUnknownParam, smtp.ErrParamSyntax
	tests := []struct {
		in      string
		allowed smtp.ParamSet
		want    error
		keyword string
	}{
		// Unknown or not advertised: 555.
		{"FOO=bar", paramsAll, unknown, "FOO"},
		{"X-FOO", paramsAll, unknown, "X-FOO"},
		{"NOTIFY=NEVER", paramsAll, unknown, "NOTIFY"},
		{"ORCPT=rfc822;a@b", paramsAll, unknown, "ORCPT"},
		{"SIZE=1", paramsAll &^ smtp.ParamSize, unknown, "SIZE"},
		{"BODY=8BITMIME", 0, unknown, "BODY"},
		{"BODY=7BIT", 0, unknown, "BODY"},
		{"BODY=8BITMIME", smtp.ParamBodyBinary, unknown, "BODY"},
		{"BODY=BINARYMIME", smtp.ParamBody8BIT, unknown, "BODY"},
		{"SMTPUTF8", paramsAll &^ smtp.ParamSMTPUTF8, unknown, "SMTPUTF8"},
		{"REQUIRETLS", paramsAll &^ smtp.ParamRequireTLS, unknown, "REQUIRETLS"},
		{"RET=FULL", paramsAll &^ smtp.ParamDSN, unknown, "RET"},
		{"ENVID=x", paramsAll &^ smtp.ParamDSN, unknown, "ENVID"},
		{"AUTH=<>", paramsAll &^ smtp.ParamAuth, unknown, "AUTH"},
		{"SIZE=1 FOO", paramsAll, unknown, "FOO"},
		// Syntax: 501.
		{"=x", paramsAll, syntax, ""},
		{"-SIZE=1", paramsAll, syntax, ""},
		{"SI_ZE=1", paramsAll, syntax, ""},
		{"SIZE", paramsAll, syntax, "SIZE"},
		{"SIZE=", paramsAll, syntax, "SIZE"},
		{"SIZE=-1", paramsAll, syntax, "SIZE"},
		{"SIZE=+1", paramsAll, syntax, "SIZE"},
		{"SIZE=1k", paramsAll, syntax, "SIZE"},
		{"SIZE=0x10", paramsAll, syntax, "SIZE"},
		{"SIZE=123456789012345678901", paramsAll, syntax, "SIZE"},
		{"SIZE=1 SIZE=2", paramsAll, syntax, "SIZE"},
		{"SIZE=1 size=1", paramsAll, syntax, "SIZE"},
		{"SIZE=1=2", paramsAll, syntax, "SIZE"},
		{"SIZE=1\t", paramsAll, syntax, "SIZE"},
		{"BODY=8BIT", paramsAll, syntax, "BODY"},
		{"BODY=", paramsAll, syntax, "BODY"},
		{"BODY", paramsAll, syntax, "BODY"},
		{"BODY=7BIT BODY=8BITMIME", paramsAll, syntax, "BODY"},
		{"SMTPUTF8=yes", paramsAll, syntax, "SMTPUTF8"},
		{"SMTPUTF8 SMTPUTF8", paramsAll, syntax, "SMTPUTF8"},
		{"REQUIRETLS=1", paramsAll, syntax, "REQUIRETLS"},
		{"RET=NONE", paramsAll, syntax, "RET"},
		{"RET", paramsAll, syntax, "RET"},
		{"ENVID=a+2", paramsAll, syntax, "ENVID"},
		{"ENVID=a+", paramsAll, syntax, "ENVID"},
		{"ENVID=a+GG", paramsAll, syntax, "ENVID"},
		{"ENVID=a+0D+0A", paramsAll, syntax, "ENVID"},
		{"ENVID=+00", paramsAll, syntax, "ENVID"},
		{"ENVID=+C3+A9", paramsAll, syntax, "ENVID"},
		{"ENVID=" + strings.Repeat("x", 101), paramsAll, syntax, "ENVID"},
		{"ENVID=é SMTPUTF8", paramsAll, syntax, "ENVID"},
		{"ENVID=a ENVID=b", paramsAll, syntax, "ENVID"},
		{"AUTH", paramsAll, syntax, "AUTH"},
		{"AUTH=", paramsAll, syntax, "AUTH"},
		{"AUTH=+0D+0Aevil", paramsAll, syntax, "AUTH"},
		{"AUTH=+FF", paramsAll, syntax, "AUTH"},
		{"AUTH=a+", paramsAll, syntax, "AUTH"},
		{"AUTH=jöran@example.com", paramsAll, syntax, "AUTH"},
		{"AUTH=jöran@example.com SMTPUTF8", paramsAll &^ smtp.ParamSMTPUTF8, unknown, "SMTPUTF8"},
		{"AUTH=j\xffran@example.com SMTPUTF8", paramsAll, syntax, "AUTH"},
		{"SIZE=1 BODY=7BIT SMTPUTF8 REQUIRETLS RET=FULL ENVID=x AUTH=<> A B C D", paramsAll, syntax, ""},
		{"FOO=" + strings.Repeat("x", 501), paramsAll, syntax, "FOO"},
	}
	for _, tt := range tests {
		got, err := smtp.ParseMailParams(tt.in, tt.allowed)
		pe := paramsCheckErr(t, "ParseMailParams", tt.in, err, tt.want, tt.keyword)
		if pe != nil && got != (smtp.MailOptions{}) {
			t.Errorf("ParseMailParams(%q) returned %+v with an error", tt.in, got)
		}
	}
}

func paramsCheckErr(t *testing.T, fn, in string, err, want error, keyword string) *smtp.ParamError {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s(%q): error %v, want %v", fn, in, err, want)
		return nil
	}
	var pe *smtp.ParamError
	if !errors.As(err, &pe) {
		t.Errorf("%s(%q): error %v is not a *ParamError", fn, in, err)
		return nil
	}
	if pe.Keyword != keyword {
		t.Errorf("%s(%q): keyword %q, want %q", fn, in, pe.Keyword, keyword)
	}
	if pe.Msg == "" || strings.ContainsAny(pe.Msg, "\r\n") || len(pe.Msg) > 100 {
		t.Errorf("%s(%q): bad message %q", fn, in, pe.Msg)
	}
	return pe
}

func TestParseRcptParamsValid(t *testing.T) {
	utf8 := smtp.ParamDSN | smtp.ParamSMTPUTF8
	tests := []struct {
		in      string
		allowed smtp.ParamSet
		want    smtp.RcptOptions
	}{
		{"", 0, smtp.RcptOptions{}},
		{"NOTIFY=NEVER", smtp.ParamDSN, smtp.RcptOptions{Notify: smtp.NotifyNever}},
		{"notify=never", smtp.ParamDSN, smtp.RcptOptions{Notify: smtp.NotifyNever}},
		{"NOTIFY=SUCCESS", smtp.ParamDSN, smtp.RcptOptions{Notify: smtp.NotifySuccess}},
		{"NOTIFY=FAILURE,DELAY", smtp.ParamDSN, smtp.RcptOptions{Notify: smtp.NotifyFailure | smtp.NotifyDelay}},
		{"NOTIFY=delay,Success,FAILURE", smtp.ParamDSN, smtp.RcptOptions{Notify: smtp.NotifyFailure | smtp.NotifyDelay | smtp.NotifySuccess}},
		{"NOTIFY=SUCCESS,SUCCESS", smtp.ParamDSN, smtp.RcptOptions{Notify: smtp.NotifySuccess}},
		{"ORCPT=rfc822;a@example.org", smtp.ParamDSN, smtp.RcptOptions{OriginalRcpt: "a@example.org", OriginalRcptType: "rfc822"}},
		{"ORCPT=RFC822;e+3Dmc2@example.org", smtp.ParamDSN, smtp.RcptOptions{OriginalRcpt: "e=mc2@example.org", OriginalRcptType: "rfc822"}},
		{"ORCPT=rfc822;+22a+20b+22@example.org", smtp.ParamDSN, smtp.RcptOptions{OriginalRcpt: `"a b"@example.org`, OriginalRcptType: "rfc822"}},
		// x400 addresses contain "=", which esmtp-value does not allow raw.
		{"ORCPT=x400;c+3Dus;a+3Dx", smtp.ParamDSN, smtp.RcptOptions{OriginalRcpt: "c=us;a=x", OriginalRcptType: "x400"}},
		{"ORCPT=utf-8;j\\x{F6}ran@example.org", smtp.ParamDSN, smtp.RcptOptions{OriginalRcpt: "jöran@example.org", OriginalRcptType: "utf-8"}},
		{"ORCPT=UTF-8;j\\x{f6}ran@example.org", smtp.ParamDSN, smtp.RcptOptions{OriginalRcpt: "jöran@example.org", OriginalRcptType: "utf-8"}},
		{"ORCPT=utf-8;\\x{7528}\\x{6237}@\\x{4F8B}\\x{5B50}.org", smtp.ParamDSN, smtp.RcptOptions{OriginalRcpt: "用户@例子.org", OriginalRcptType: "utf-8"}},
		{"ORCPT=utf-8;a\\x{2B}b\\x{3D}c\\x{5C}d\\x{20}e@x", smtp.ParamDSN, smtp.RcptOptions{OriginalRcpt: `a+b=c\d e@x`, OriginalRcptType: "utf-8"}},
		{"ORCPT=utf-8;\\x{1F600}@x", smtp.ParamDSN, smtp.RcptOptions{OriginalRcpt: "\U0001F600@x", OriginalRcptType: "utf-8"}},
		{"ORCPT=utf-8;\\x{10FFFF}@x", smtp.ParamDSN, smtp.RcptOptions{OriginalRcpt: "\U0010FFFF@x", OriginalRcptType: "utf-8"}},
		{"ORCPT=utf-8;jöran@example.org", utf8, smtp.RcptOptions{OriginalRcpt: "jöran@example.org", OriginalRcptType: "utf-8"}},
		{"ORCPT=utf-8;jö\\x{20}ran@example.org", utf8, smtp.RcptOptions{OriginalRcpt: "jö ran@example.org", OriginalRcptType: "utf-8"}},
		{"ORCPT=x-custom;abc", smtp.ParamDSN, smtp.RcptOptions{OriginalRcpt: "abc", OriginalRcptType: "x-custom"}},
		{
			"NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@example.org",
			smtp.ParamDSN,
			smtp.RcptOptions{Notify: smtp.NotifySuccess | smtp.NotifyFailure, OriginalRcpt: "a@example.org", OriginalRcptType: "rfc822"},
		},
		{"ORCPT=rfc822;" + strings.Repeat("a", 493), smtp.ParamDSN, smtp.RcptOptions{OriginalRcpt: strings.Repeat("a", 493), OriginalRcptType: "rfc822"}},
	}
	for _, tt := range tests {
		got, err := smtp.ParseRcptParams(tt.in, tt.allowed)
		if err != nil || got != tt.want {
			t.Errorf("ParseRcptParams(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseRcptParamsInvalid(t *testing.T) {
	unknown, syntax := smtp.ErrUnknownParam, smtp.ErrParamSyntax
	utf8 := smtp.ParamDSN | smtp.ParamSMTPUTF8
	tests := []struct {
		in      string
		allowed smtp.ParamSet
		want    error
		keyword string
	}{
		{"NOTIFY=NEVER", paramsAll &^ smtp.ParamDSN, unknown, "NOTIFY"},
		{"ORCPT=rfc822;a@b", paramsAll &^ smtp.ParamDSN, unknown, "ORCPT"},
		{"SIZE=1", paramsAll, unknown, "SIZE"},
		{"BODY=8BITMIME", paramsAll, unknown, "BODY"},
		{"SMTPUTF8", paramsAll, unknown, "SMTPUTF8"},
		{"AUTH=<>", paramsAll, unknown, "AUTH"},
		{"XFOO", paramsAll, unknown, "XFOO"},
		{"NOTIFY", paramsAll, syntax, "NOTIFY"},
		{"NOTIFY=", paramsAll, syntax, "NOTIFY"},
		{"NOTIFY=NEVER,SUCCESS", paramsAll, syntax, "NOTIFY"},
		{"NOTIFY=DELAY,NEVER", paramsAll, syntax, "NOTIFY"},
		{"NOTIFY=SOMETIMES", paramsAll, syntax, "NOTIFY"},
		{"NOTIFY=SUCCESS,", paramsAll, syntax, "NOTIFY"},
		{"NOTIFY=,SUCCESS", paramsAll, syntax, "NOTIFY"},
		{"NOTIFY=SUCCESS,,FAILURE", paramsAll, syntax, "NOTIFY"},
		{"NOTIFY=NEVER NOTIFY=NEVER", paramsAll, syntax, "NOTIFY"},
		{"ORCPT", paramsAll, syntax, "ORCPT"},
		{"ORCPT=", paramsAll, syntax, "ORCPT"},
		{"ORCPT=a@b", paramsAll, syntax, "ORCPT"},
		{"ORCPT=;a@b", paramsAll, syntax, "ORCPT"},
		{"ORCPT=rfc822;", paramsAll, syntax, "ORCPT"},
		{"ORCPT=rfc(822);a@b", paramsAll, syntax, "ORCPT"},
		{"ORCPT=rfc822;a+0D+0Ab", paramsAll, syntax, "ORCPT"},
		{"ORCPT=rfc822;a+C3+A9b", paramsAll, syntax, "ORCPT"},
		{"ORCPT=rfc822;a+2", paramsAll, syntax, "ORCPT"},
		{"ORCPT=rfc822;jöran@x", utf8, syntax, "ORCPT"},
		{"ORCPT=rfc822;a@b ORCPT=rfc822;a@b", paramsAll, syntax, "ORCPT"},
		{"ORCPT=rfc822;" + strings.Repeat("a", 494), paramsAll, syntax, "ORCPT"},
		{"ORCPT=utf-8;jöran@x", smtp.ParamDSN, syntax, "ORCPT"},
		{"ORCPT=utf-8;a+b", smtp.ParamDSN, syntax, "ORCPT"},
		{"ORCPT=utf-8;a\\b", smtp.ParamDSN, syntax, "ORCPT"},
		{"ORCPT=utf-8;a\\x{", smtp.ParamDSN, syntax, "ORCPT"},
		{"ORCPT=utf-8;a\\x{F6", smtp.ParamDSN, syntax, "ORCPT"},
		{"ORCPT=utf-8;a\\x{}", smtp.ParamDSN, syntax, "ORCPT"},
		{"ORCPT=utf-8;a\\X{F6}", smtp.ParamDSN, syntax, "ORCPT"},
		{"ORCPT=utf-8;a\\x{G6}", smtp.ParamDSN, syntax, "ORCPT"},
		{"ORCPT=utf-8;a\\x{41}", smtp.ParamDSN, syntax, "ORCPT"},      // QCHAR must be literal
		{"ORCPT=utf-8;a\\x{0F6}", smtp.ParamDSN, syntax, "ORCPT"},     // not shortest form
		{"ORCPT=utf-8;a\\x{F}", smtp.ParamDSN, syntax, "ORCPT"},       // one digit
		{"ORCPT=utf-8;a\\x{00}", smtp.ParamDSN, syntax, "ORCPT"},      // NUL
		{"ORCPT=utf-8;a\\x{0A}", smtp.ParamDSN, syntax, "ORCPT"},      // control
		{"ORCPT=utf-8;a\\x{85}", smtp.ParamDSN, syntax, "ORCPT"},      // C1 control
		{"ORCPT=utf-8;a\\x{D800}", smtp.ParamDSN, syntax, "ORCPT"},    // surrogate
		{"ORCPT=utf-8;a\\x{110000}", smtp.ParamDSN, syntax, "ORCPT"},  // beyond Unicode
		{"ORCPT=utf-8;a\\x{1000000}", smtp.ParamDSN, syntax, "ORCPT"}, // seven digits
		{"ORCPT=utf-8;j\xffran@x", utf8, syntax, "ORCPT"},
		{"NOTIFY=NEVER A B C D E F G H I J", paramsAll, syntax, ""},
	}
	for _, tt := range tests {
		got, err := smtp.ParseRcptParams(tt.in, tt.allowed)
		pe := paramsCheckErr(t, "ParseRcptParams", tt.in, err, tt.want, tt.keyword)
		if pe != nil && got != (smtp.RcptOptions{}) {
			t.Errorf("ParseRcptParams(%q) returned %+v with an error", tt.in, got)
		}
	}
}

func TestParamErrorLongKeyword(t *testing.T) {
	kw := "X" + strings.Repeat("Y", 300)
	_, err := smtp.ParseMailParams(kw, paramsAll)
	var pe *smtp.ParamError
	if !errors.As(err, &pe) || !errors.Is(err, smtp.ErrUnknownParam) {
		t.Fatalf("err = %v", err)
	}
	if pe.Keyword != kw || len(pe.Msg) > 100 {
		t.Errorf("Keyword %q, Msg %q", pe.Keyword, pe.Msg)
	}
}

func TestNotifyString(t *testing.T) {
	tests := []struct {
		n    smtp.Notify
		want string
	}{
		{0, ""},
		{smtp.NotifyNever, "NEVER"},
		{smtp.NotifySuccess, "SUCCESS"},
		{smtp.NotifyDelay | smtp.NotifyFailure, "FAILURE,DELAY"},
		{smtp.NotifySuccess | smtp.NotifyFailure | smtp.NotifyDelay, "SUCCESS,FAILURE,DELAY"},
	}
	for _, tt := range tests {
		if got := tt.n.String(); got != tt.want {
			t.Errorf("Notify(%d).String() = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestMailOptionsAppendParams(t *testing.T) {
	tests := []struct {
		o    smtp.MailOptions
		want string
	}{
		{smtp.MailOptions{}, ""},
		{smtp.MailOptions{Size: 42}, " SIZE=42"},
		{smtp.MailOptions{Size: math.MaxInt64}, " SIZE=9223372036854775807"},
		{smtp.MailOptions{Body: smtp.Body8BitMIME, UTF8: true}, " BODY=8BITMIME SMTPUTF8"},
		{smtp.MailOptions{RequireTLS: true, Return: smtp.DSNReturnHeaders}, " REQUIRETLS RET=HDRS"},
		{smtp.MailOptions{EnvelopeID: "a+b=c d"}, " ENVID=a+2Bb+3Dc+20d"},
		{smtp.MailOptions{Auth: "<>"}, " AUTH=<>"},
		{smtp.MailOptions{Auth: "e=mc2@example.com"}, " AUTH=e+3Dmc2@example.com"},
		{smtp.MailOptions{Auth: "jö@x"}, " AUTH=j+C3+B6@x"},
	}
	for _, tt := range tests {
		got := string(tt.o.AppendParams([]byte(nil)))
		if got != tt.want {
			t.Errorf("%+v.AppendParams = %q, want %q", tt.o, got, tt.want)
		}
		back, err := smtp.ParseMailParams(got, paramsAll)
		if err != nil || back != tt.o {
			t.Errorf("ParseMailParams(%q) = %+v, %v; want %+v", got, back, err, tt.o)
		}
	}
	if got := string((smtp.MailOptions{Size: 1}).AppendParams([]byte("MAIL FROM:<a@b>"))); got != "MAIL FROM:<a@b> SIZE=1" {
		t.Errorf("AppendParams does not append: %q", got)
	}
}

func TestRcptOptionsAppendParams(t *testing.T) {
	tests := []struct {
		o    smtp.RcptOptions
		want string
		back smtp.RcptOptions
	}{
		{o: smtp.RcptOptions{}, want: ""},
		{o: smtp.RcptOptions{Notify: smtp.NotifyNever}, want: " NOTIFY=NEVER"},
		{o: smtp.RcptOptions{Notify: smtp.NotifySuccess | smtp.NotifyDelay}, want: " NOTIFY=SUCCESS,DELAY"},
		{
			o:    smtp.RcptOptions{OriginalRcpt: "e=mc2@example.com"},
			want: " ORCPT=rfc822;e+3Dmc2@example.com",
			back: smtp.RcptOptions{OriginalRcpt: "e=mc2@example.com", OriginalRcptType: "rfc822"},
		},
		{
			o:    smtp.RcptOptions{OriginalRcpt: "jöran@bücher.de"},
			want: ` ORCPT=utf-8;j\x{F6}ran@b\x{FC}cher.de`,
			back: smtp.RcptOptions{OriginalRcpt: "jöran@bücher.de", OriginalRcptType: "utf-8"},
		},
		{
			o:    smtp.RcptOptions{OriginalRcpt: `a+b=c\d e@例子`, OriginalRcptType: "utf-8"},
			want: ` ORCPT=utf-8;a\x{2B}b\x{3D}c\x{5C}d\x{20}e@\x{4F8B}\x{5B50}`,
		},
		{
			o:    smtp.RcptOptions{Notify: smtp.NotifyFailure, OriginalRcpt: "a@b", OriginalRcptType: "rfc822"},
			want: " NOTIFY=FAILURE ORCPT=rfc822;a@b",
		},
		{
			o:    smtp.RcptOptions{OriginalRcpt: "c=us;a=x", OriginalRcptType: "x400"},
			want: " ORCPT=x400;c+3Dus;a+3Dx",
		},
	}
	for _, tt := range tests {
		got := string(tt.o.AppendParams(nil))
		if got != tt.want {
			t.Errorf("%+v.AppendParams = %q, want %q", tt.o, got, tt.want)
		}
		want := tt.back
		if want == (smtp.RcptOptions{}) {
			want = tt.o
		}
		back, err := smtp.ParseRcptParams(got, smtp.ParamDSN)
		if err != nil || back != want {
			t.Errorf("ParseRcptParams(%q) = %+v, %v; want %+v", got, back, err, want)
		}
	}
}
