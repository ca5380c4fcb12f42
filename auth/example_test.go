package auth_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wsedge/wsedge/auth"
)

// A worker verifies the token of a new connection and keeps its Identity.
func ExampleVerifier_Verify() {
	secret := []byte("an-example-secret-of-32-bytes-or-more")
	v, err := auth.NewVerifier(auth.Config{HMACSecret: secret, Audience: "app"})
	if err != nil {
		panic(err)
	}
	defer v.Close()
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "42", "aud": "app", "info": map[string]string{"name": "Ann"},
	}).SignedString(secret)

	claims, err := v.Verify(context.Background(), tok)
	id := claims.Identity()
	fmt.Println(id.User, string(id.Info), err)

	_, err = v.Verify(context.Background(), tok[:len(tok)-2])
	fmt.Println(errors.Is(err, auth.ErrInvalid), errors.Is(err, auth.ErrExpired))
	// Output:
	// 42 {"name":"Ann"} <nil>
	// true false
}
