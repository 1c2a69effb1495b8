module github.com/dsecore/dsecore

go 1.26.8
