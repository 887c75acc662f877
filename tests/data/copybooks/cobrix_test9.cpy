      ******************************************************************
      * COBRIX-TEST9: transactions whose company name holds control
      * bytes, 45-byte records.
      *
      * Written by hand for this project (tests/unit/test_realdata.py).
      * It is NOT cobrix's copybook and copies none of it: there is no
      * layout table for this file, so the offsets were worked out from
      * the bytes of TRAN.APR14.NPT.DATA.dat and from the values cobrix
      * expects for its first 60 records (test9_cp037.txt and
      * test9_cp037_ext.txt: the lengths of the untrimmed texts), all
      * in shared/realdata/cobrix/test9 (AbsaOSS/cobrix,
      * Apache-2.0, copyright 2018 ABSA Group Limited).
      *
      * AMOUNT is 8 bytes of binary with two decimals (36.88 is
      * X'0000000000000E68', 3688). Data names use '-' where the
      * expected output has '_'; CURRENCY, a COBOL reserved word, is
      * TXN-CURRENCY.
      ******************************************************************
       01  COBRIX-TEST9.
           05  TXN-CURRENCY            PIC X(3).
           05  SIGNATURE               PIC X(8).
           05  COMPANY-NAME-NP         PIC X(15).
           05  COMPANY-ID              PIC X(10).
           05  WEALTH-QFY              PIC 9(1).
           05  AMOUNT                  PIC S9(16)V99   COMP.
