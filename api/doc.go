// Package api is the server API of a wsedge node: the HTTP calls with which
// an application backend publishes to channels, changes a user's
// subscriptions, disconnects users and reads presence, channels and node
// information (docs/api.md).
//
// Handler decodes and checks requests (API key in constant time, body
// limit, strict JSON fields, channel names, close codes) and calls a Node,
// which the server implements for one node or a cluster; Serve runs it on
// its own listener (-api-addr). The admin listener mounts a keyless Handler
// for its web page.
package api
