package server

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/go-dap"
)

func hexAddr(a uint64) string { return fmt.Sprintf("%#x", a) }

func (c *conn) readMemory(r *dap.ReadMemoryRequest) {
	addr, err := strconv.ParseUint(strings.TrimPrefix(r.Arguments.MemoryReference, "0x"), 16, 64)
	if err != nil {
		c.sendError(r.Seq, r.Command, errBadMemoryRef, "bad memoryReference "+r.Arguments.MemoryReference)
		return
	}
	addr += uint64(r.Arguments.Offset)
	n := min(max(r.Arguments.Count, 0), 1<<20)
	buf := make([]byte, n)
	k, _ := c.st.p.Core.ReadAt(buf, addr)
	body := dap.ReadMemoryResponseBody{Address: hexAddr(addr), Data: base64.StdEncoding.EncodeToString(buf[:k]), UnreadableBytes: n - k}
	c.send(&dap.ReadMemoryResponse{Response: response(&r.Request), Body: body})
}
